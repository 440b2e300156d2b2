"""The DoveRunner Python SDK 3.0, served by keyward.

The sub-packages mirror the SDK's (``config``, ``exception``, ``token``,
``token.v2``); this namespace also holds every name at once, with the short
names of the SDK's sample (``Policy``, ``Token``, ``Widevine``, ...)::

    from keyward.doverunner import *
"""

from typing import Any

from keyward._errors import DoveRunnerTokenException, DoverunnerTokenException
from keyward.doverunner._classes import (
    DoveRunnerDrmTokenClient,
    DoveRunnerDrmTokenPolicy,
    DoverunnerDrmTokenClient,
    DoverunnerDrmTokenPolicy,
    ExternalKey,
    ExternalKeyHlsAes,
    ExternalKeyMpegCenc,
    ExternalKeyNcg,
    PlaybackPolicy,
    SecurityPolicy,
    SecurityPolicyFairplay,
    SecurityPolicyNcg,
    SecurityPolicyPlayready,
    SecurityPolicyWidevine,
    SecurityPolicyWiseplay,
)
from keyward.doverunner.config import common, fairplay, ncg, playback, playready, widevine, wiseplay
from keyward.doverunner.config.common import response_format, track_type
from keyward.doverunner.config.fairplay import fairplay_hdcp_enforcement
from keyward.doverunner.config.ncg import ncg_control_hdcp
from keyward.doverunner.config.playback import allowed_track_types

Policy = DoverunnerDrmTokenPolicy
Token = DoverunnerDrmTokenClient
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
    "DoveRunnerDrmTokenClient", "DoveRunnerDrmTokenPolicy", "DoveRunnerTokenException",
    "DoverunnerDrmTokenClient", "DoverunnerDrmTokenPolicy", "DoverunnerTokenException",
    "ExternalKey", "ExternalKeyHlsAes", "ExternalKeyMpegCenc", "ExternalKeyNcg", "Fairplay",
    "HlsAes", "MpegCenc", "Ncg", "PlaybackPolicy", "Playready", "Policy", "SecurityPolicy",
    "SecurityPolicyFairplay", "SecurityPolicyNcg", "SecurityPolicyPlayready",
    "SecurityPolicyWidevine", "SecurityPolicyWiseplay", "Token", "Widevine", "Wiseplay",
    "allowed_track_types", "common", "fairplay", "fairplay_hdcp_enforcement", "ncg",
    "ncg_control_hdcp", "playback", "playready", "response_format", "track_type",
    "widevine", "wiseplay",
]
