"""The PallyCon Python SDK 2.1, served by keyward.

The sub-packages mirror the SDK's (``config``, ``exception``, ``token``,
``token.v2``); this namespace also holds every name at once, including the
short names of the SDK's README (``Policy``, ``Token``, ``Widevine``,
``Playready``, ``Fairplay``, ``Ncg``, ``MpegCenc``, ``HlsAes``)::

    from keyward.pallycon import *
"""

from typing import Any

from keyward._errors import PallyConTokenException
from keyward._native import (
    ExternalKey,
    ExternalKeyHlsAes,
    ExternalKeyMpegCenc,
    ExternalKeyNcg,
    PallyConDrmTokenClient,
    PallyConDrmTokenPolicy,
    PlaybackPolicy,
    SecurityPolicy,
    SecurityPolicyFairplay,
    SecurityPolicyNcg,
    SecurityPolicyPlayready,
    SecurityPolicyWidevine,
    SecurityPolicyWiseplay,
)
from keyward.pallycon.config import (
    allowed_track_types,
    fairplay_hdcp_enforcement,
    ncg_control_hdcp,
    playready,
    response_format,
    track_type,
    widevine,
)

Policy = PallyConDrmTokenPolicy
Token = PallyConDrmTokenClient
Widevine = SecurityPolicyWidevine
Playready = SecurityPolicyPlayready
Fairplay = SecurityPolicyFairplay
Wiseplay = SecurityPolicyWiseplay
MpegCenc = ExternalKeyMpegCenc
HlsAes = ExternalKeyHlsAes


class _NcgMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, (SecurityPolicyNcg, ExternalKeyNcg))


class Ncg(metaclass=_NcgMeta):
    """The README's one name for two classes: ``Ncg()`` is the security
    section (``SecurityPolicyNcg``), ``Ncg(track_type, cek)`` the external
    key (``ExternalKeyNcg``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        if args or kwargs:
            return ExternalKeyNcg(*args, **kwargs)
        return SecurityPolicyNcg()


__all__ = [
    "ExternalKey", "ExternalKeyHlsAes", "ExternalKeyMpegCenc", "ExternalKeyNcg",
    "Fairplay", "HlsAes", "MpegCenc", "Ncg", "PallyConDrmTokenClient",
    "PallyConDrmTokenPolicy", "PallyConTokenException", "PlaybackPolicy", "Playready",
    "Policy", "SecurityPolicy", "SecurityPolicyFairplay", "SecurityPolicyNcg",
    "SecurityPolicyPlayready", "SecurityPolicyWidevine", "SecurityPolicyWiseplay",
    "Token", "Widevine", "Wiseplay", "allowed_track_types", "fairplay_hdcp_enforcement",
    "ncg_control_hdcp", "playready", "response_format", "track_type", "widevine",
]
