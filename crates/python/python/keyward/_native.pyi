"""Type stubs for keyward's Rust extension (``keyward._native``).

The SDK setters take ``Any`` on purpose: they accept exactly what the vendor
SDK accepts (including its quirks, such as ``True`` for a level of 1) and raise
``PallyConTokenException`` with the SDK's code for anything else.
"""

import datetime
from typing import Any, Dict, List, Literal, Optional, TypeVar, Union

_Self = TypeVar("_Self")
_Dialect = Literal["pallycon", "pallycon-unified", "doverunner"]
_Timestamp = Union[str, datetime.datetime, int, float]

__version__: str

class PlaybackPolicy:
    """``playback_policy``: persistence, durations, expiry, track limits, streams."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def persistent(self: _Self, persistent: bool) -> _Self:
        """Offline (persistent) licence if True (1009 unless a bool)."""
    def license_duration(self: _Self, license_duration: int) -> _Self:
        """Licence validity in seconds, 0 = unlimited (1010 unless an int)."""
    def expire_date(self: _Self, expire_date: str) -> _Self:
        """Absolute expiry ``YYYY-MM-DDTHH:mm:ssZ`` (1011)."""
    def allowed_track_types(self: _Self, allowed_track_types: str) -> _Self:
        """ALL, SD_ONLY, SD_HD, SD_UHD1 or SD_UHD2 (1012)."""
    def rental_duration(self: _Self, rental_duration: int) -> _Self:
        """Offline rental window before first play, seconds (1049)."""
    def playback_duration(self: _Self, playback_duration: int) -> _Self:
        """Offline playback window after first play, seconds (1050)."""
    def max_stream_per_user(self: _Self, max_stream_per_user: int) -> _Self:
        """Concurrent streams per user (1053)."""
    def renewal_duration(self: _Self, renewal_duration: Union[int, str]) -> _Self:
        """CSL licence-renewal period (DoveRunner 3; 1056)."""
    def get_persistent(self) -> Optional[bool]: ...
    def get_license_duration(self) -> Any: ...
    def get_expire_date(self) -> Optional[str]: ...
    def get_allowed_track_types(self) -> Optional[str]: ...
    def get_rental_duration(self) -> Any: ...
    def get_playback_duration(self) -> Any: ...
    def get_max_stream_per_user(self) -> Any: ...
    def get_renewal_duration(self) -> Any: ...
    def dict(self) -> Dict[str, Any]:
        """The section as the SDK's ``dict()`` returns it."""
    def to_json_str(self) -> str:
        """The section's JSON text, exactly as the SDK writes it."""

class SecurityPolicyWidevine:
    """``security_policy[].widevine``."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def security_level(self: _Self, security_level: int) -> _Self:
        """1-5 (SW_SECURE_CRYPTO ... HW_SECURE_ALL); 1022."""
    def required_hdcp_version(self: _Self, required_hdcp_version: str) -> _Self:
        """HDCP_NONE, HDCP_V1, HDCP_V2, HDCP_V2_1, HDCP_V2_2, HDCP_NO_DIGITAL_OUTPUT; 1023."""
    def required_cgms_flags(self: _Self, required_cgms_flags: str) -> _Self:
        """CGMS_NONE, COPY_FREE, COPY_ONCE, COPY_NEVER; 1024."""
    def disable_analog_output(self: _Self, disable_analog_output: bool) -> _Self:
        """1025 unless a bool."""
    def hdcp_srm_rule(self: _Self, hdcp_srm_rule: str) -> _Self:
        """HDCP_SRM_RULE_NONE or CURRENT_SRM; 1026."""
    def override_device_revocation(self: _Self, override_device_revocation: bool) -> _Self:
        """1051 unless a bool; written only in the DoveRunner dialect, as the SDKs do."""
    def enable_license_cipher(self: _Self, enable_license_cipher: bool) -> _Self:
        """1054 unless a bool."""
    def allow_test_device(self: _Self, allow_test_device: bool) -> _Self:
        """DoveRunner 3; 1059 unless a bool."""
    def get_security_level(self) -> Any: ...
    def get_required_hdcp_version(self) -> Optional[str]: ...
    def get_required_cgms_flags(self) -> Optional[str]: ...
    def get_disable_analog_output(self) -> Optional[bool]: ...
    def get_hdcp_srm_rule(self) -> Optional[str]: ...
    def get_override_device_revocation(self) -> Optional[bool]: ...
    def get_enable_license_cipher(self) -> Optional[bool]: ...
    def get_allow_test_device(self) -> Optional[bool]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class SecurityPolicyPlayready:
    """``security_policy[].playready``."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def security_level(self: _Self, security_level: int) -> _Self:
        """150, 2000 or 3000; 1027."""
    def digital_video_protection_level(self: _Self, digital_video_protection: int) -> _Self:
        """100, 250, 270, 300 or 301; 1028."""
    def analog_video_protection_level(self: _Self, analog_video_protection: int) -> _Self:
        """100, 150, 200 or 201; 1029."""
    def digital_audio_protection_level(self: _Self, digital_audio_protection: int) -> _Self:
        """100, 250, 300 or 301; 1030."""
    def require_hdcp_type_1(self: _Self, require_hdcp_type_1: bool) -> _Self:
        """1032 unless a bool."""
    def enable_license_cipher(self: _Self, enable_license_cipher: bool) -> _Self:
        """DoveRunner 3; 1058 unless a bool."""
    def get_security_level(self) -> Any: ...
    def get_digital_video_protection_level(self) -> Any: ...
    def get_analog_video_protection_level(self) -> Any: ...
    def get_digital_audio_protection_level(self) -> Any: ...
    def get_require_hdcp_type_1(self) -> Optional[bool]: ...
    def get_enable_license_cipher(self) -> Optional[bool]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class SecurityPolicyFairplay:
    """``security_policy[].fairplay``."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def hdcp_enforcement(self: _Self, hdcp_enforcement: int) -> _Self:
        """-1 (none), 0 (type 0) or 1 (type 1); 1033."""
    def allow_airplay(self: _Self, allow_airplay: bool) -> _Self:
        """1034 unless a bool."""
    def allow_av_adapter(self: _Self, allow_av_adapter: bool) -> _Self:
        """1035 unless a bool."""
    def get_hdcp_enforcement(self) -> Any: ...
    def get_allow_airplay(self) -> Optional[bool]: ...
    def get_allow_av_adapter(self) -> Optional[bool]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class SecurityPolicyNcg:
    """``security_policy[].ncg``."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def allow_mobile_abnormal_device(self: _Self, allow_mobile_abnormal_device: bool) -> _Self:
        """1036 unless a bool."""
    def allow_external_display(self: _Self, allow_external_display: bool) -> _Self:
        """1037 unless a bool."""
    def control_hdcp(self: _Self, control_hdcp: int) -> _Self:
        """0 (none), 1 (HDCP 1.4) or 2 (HDCP 2.2); 1038."""
    def get_allow_mobile_abnormal_device(self) -> Optional[bool]: ...
    def get_allow_external_display(self) -> Optional[bool]: ...
    def get_control_hdcp(self) -> Any: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class SecurityPolicyWiseplay:
    """``security_policy[].wiseplay`` (DoveRunner 3)."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def security_level(self: _Self, security_level: int) -> _Self:
        """An int (1 SW_LEVEL_1, 2 HW_LEVEL_2, 3 ENHANCED_HW_LEVEL_3); 1060."""
    def output_control(self: _Self, output_control: int) -> _Self:
        """An int (0-3); 1061."""
    def get_security_level(self) -> Any: ...
    def get_output_control(self) -> Any: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class SecurityPolicy:
    """One ``security_policy[]`` entry: a track type and per-DRM sections."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def track_type(self: _Self, track_type: str) -> _Self:
        """ALL (default), ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2; 1013."""
    def widevine(self: _Self, widevine: SecurityPolicyWidevine) -> _Self:
        """Copied now; 1014 unless a SecurityPolicyWidevine."""
    def playready(self: _Self, playready: SecurityPolicyPlayready) -> _Self:
        """Copied now; 1015."""
    def fairplay(self: _Self, fairplay: SecurityPolicyFairplay) -> _Self:
        """Copied now; 1016."""
    def ncg(self: _Self, ncg: SecurityPolicyNcg) -> _Self:
        """Copied now; 1017 (1062 in DoveRunner 3)."""
    def wiseplay(self: _Self, wiseplay: SecurityPolicyWiseplay) -> _Self:
        """Copied now (DoveRunner 3); 1057."""
    def get_track_type(self) -> str: ...
    def get_widevine(self) -> Optional[Dict[str, Any]]: ...
    def get_playready(self) -> Optional[Dict[str, Any]]: ...
    def get_fairplay(self) -> Optional[Dict[str, Any]]: ...
    def get_ncg(self) -> Optional[Dict[str, Any]]: ...
    def get_wiseplay(self) -> Optional[Dict[str, Any]]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class ExternalKeyMpegCenc:
    """A DASH/CENC key: track_type (1039), key_id (1040), key (1041), optional iv (1042);
    32 lowercase hex digits each."""

    def __init__(
        self, track_type: str = ..., key_id: str = ..., key: str = ..., iv: Optional[str] = ..., *, dialect: Optional[_Dialect] = ...
    ) -> None: ...
    @property
    def track_type(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def iv(self) -> Optional[str]: ...
    def dict(self) -> Dict[str, Any]: ...

class ExternalKeyHlsAes:
    """An HLS SAMPLE-AES key: track_type (1043), key_id (1052), key (1044), iv (1045)."""

    def __init__(
        self, track_type: str = ..., key_id: str = ..., key: str = ..., iv: str = ..., *, dialect: Optional[_Dialect] = ...
    ) -> None: ...
    @property
    def track_type(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def iv(self) -> str: ...
    def dict(self) -> Dict[str, Any]: ...

class ExternalKeyNcg:
    """An NCG content key: track_type (1046), cek of 64 lowercase hex digits (1047)."""

    def __init__(self, track_type: str = ..., cek: str = ..., *, dialect: Optional[_Dialect] = ...) -> None: ...
    @property
    def track_type(self) -> str: ...
    @property
    def cek(self) -> str: ...
    def dict(self) -> Dict[str, Any]: ...

class ExternalKey:
    """``external_policy``: keys the licence server does not store."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def mpeg_cenc(self: _Self, mpeg_cenc: Union[ExternalKeyMpegCenc, List[ExternalKeyMpegCenc]]) -> _Self:
        """Appends one, or replaces the list with a list; 1019."""
    def hls_aes(self: _Self, hls_aes: Union[ExternalKeyHlsAes, List[ExternalKeyHlsAes]]) -> _Self:
        """Appends one, or replaces the list with a list; 1020."""
    def ncg(self: _Self, ncg: ExternalKeyNcg) -> _Self:
        """1021 unless an ExternalKeyNcg."""
    def check(self) -> bool:
        """Whether any key is set."""
    def get_mpeg_cenc(self) -> List[Dict[str, Any]]: ...
    def get_hls_aes(self) -> List[Dict[str, Any]]: ...
    def get_ncg(self) -> Optional[Dict[str, Any]]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str: ...

class PallyConDrmTokenPolicy:
    """The licence policy (policy_version 2), serialized as the SDK's ``to_json_str()``."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    def playback(self: _Self, playback: PlaybackPolicy) -> _Self:
        """Copied now; 1006 unless a PlaybackPolicy."""
    def security(self: _Self, security: Union[SecurityPolicy, List[SecurityPolicy]]) -> _Self:
        """Appends one, or replaces the list with a list; 1007."""
    def external(self: _Self, external: ExternalKey) -> _Self:
        """1018 if empty, 1008 unless an ExternalKey."""
    def get_playback(self) -> Optional[Dict[str, Any]]: ...
    def get_security(self) -> List[Dict[str, Any]]: ...
    def get_external(self) -> Optional[Dict[str, Any]]: ...
    def dict(self) -> Dict[str, Any]: ...
    def to_json_str(self) -> str:
        """The policy JSON text, exactly as the SDK encrypts it."""

class PallyConDrmTokenClient:
    """Builds one licence token, fluently, exactly as the vendor SDK's client."""

    def __init__(self, *, dialect: Optional[_Dialect] = ...) -> None: ...
    @property
    def dialect(self) -> str: ...
    def site_key(self: _Self, site_key: str) -> _Self: ...
    def access_key(self: _Self, access_key: str) -> _Self: ...
    def site_id(self: _Self, site_id: str) -> _Self: ...
    def user_id(self: _Self, user_id: str) -> _Self: ...
    def cid(self: _Self, cid: str) -> _Self: ...
    def playready(self: _Self) -> _Self: ...
    def widevine(self: _Self) -> _Self: ...
    def fairplay(self: _Self) -> _Self: ...
    def ncg(self: _Self) -> _Self: ...
    def wiseplay(self: _Self) -> _Self: ...
    def clearkey(self: _Self) -> _Self:
        """drm_type ClearKey (keyward's W3C Clear Key licences)."""
    def drm_type(self: _Self, drm_type: str) -> _Self:
        """drm_type by name, any case; 1090 otherwise."""
    def policy(self: _Self, policy: Union[PallyConDrmTokenPolicy, Dict[str, Any], str]) -> _Self:
        """The policy (its JSON is taken now); a dict or JSON text are keyward extensions. 1005."""
    def response_format(self: _Self, response_format: str) -> _Self:
        """original, custom (json outside the 2.1 dialect); 1048."""
    def key_rotation(self: _Self, key_rotation: bool) -> _Self:
        """1055 unless a bool."""
    def timestamp(self: _Self, timestamp: Optional[_Timestamp]) -> _Self:
        """Fixes the token timestamp (tests); None = time of execute(). 1091."""
    def execute(self) -> str:
        """Checks fields (1000-1005), mints and returns the token."""
    def get_drm_type(self) -> str: ...
    def get_site_id(self) -> Any: ...
    def get_user_id(self) -> Any: ...
    def get_cid(self) -> Any: ...
    def get_site_key(self) -> Any: ...
    def get_access_key(self) -> Any: ...
    def get_policy(self) -> Optional[str]: ...
    def get_response_format(self) -> str: ...
    def get_key_rotation(self) -> Optional[bool]: ...
    def get_time_stamp(self) -> Optional[str]: ...
    def get_hash(self) -> Optional[str]: ...
    def to_json_str(self) -> Optional[str]:
        """The token JSON of the last execute()."""

def mint(
    policy: Union[PallyConDrmTokenPolicy, Dict[str, Any], str],
    *,
    site_id: str,
    site_key: str,
    access_key: str,
    user_id: str,
    cid: str,
    drm_type: Optional[str] = None,
    timestamp: Optional[_Timestamp] = None,
    response_format: Optional[str] = None,
    key_rotation: Optional[bool] = None,
    dialect: Optional[Literal["pallycon", "pallycon-unified", "doverunner", "keyward"]] = None,
    validate: bool = True,
) -> str:
    """Mints one token (see docs/python.md). Raises PallyConTokenException."""

class Minter:
    """A site's credentials, checked once, for minting many tokens (the fastest
    way to mint from Python: positional arguments skip keyword matching)."""

    def __init__(
        self,
        site_id: str,
        site_key: str,
        access_key: str,
        *,
        dialect: Optional[Literal["pallycon", "pallycon-unified", "doverunner", "keyward"]] = None,
    ) -> None: ...
    @property
    def site_id(self) -> str: ...
    def mint(
        self,
        policy: Union[PallyConDrmTokenPolicy, Dict[str, Any], str],
        user_id: str,
        cid: str,
        drm_type: Optional[str] = None,
        timestamp: Optional[_Timestamp] = None,
        response_format: Optional[str] = None,
        key_rotation: Optional[bool] = None,
        validate: bool = True,
    ) -> str:
        """Mints one token; the arguments mean what they mean for ``mint``."""

def verify(
    token: str,
    *,
    site_id: str,
    site_key: str,
    access_key: str,
    now: Optional[_Timestamp] = None,
    window_secs: int = 600,
    leeway_secs: int = 60,
) -> Dict[str, Any]:
    """Verifies a token as keyward's licence server does; raises TokenVerifyError."""

def customdata(
    *,
    site_id: str,
    site_key: str,
    user_id: str,
    cid: str,
    drm_type: str = "PlayReady",
    oid: Optional[str] = None,
    content_type: Optional[str] = None,
    legacy: bool = False,
) -> str:
    """Callback-mode auth data for the pallycon-customdata-v2 header."""

def _bench_mint_rust(n: int, policy_json: str, *, engine: Literal["sdk", "keyward-token"] = "sdk") -> float: ...
