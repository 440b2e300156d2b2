"""A plain-Python token minter that does, per token, what the vendor's Python
SDK does: fluent builder objects that check every value as it is set, copy
each section into a dict when it is attached, ``json.dumps`` the policy,
AES-256-CBC it with pycryptodome (fixed IV, PKCS#7), SHA-256 the hash input,
``json.dumps`` the token and base64 it.

Written for keyward's benchmark (bench/python/bench.py) as the "what a
Python backend runs today" peer; it is not the vendor's code and only covers
what the benchmark's policies use. Its output is byte-identical to the SDK's
(bench.py checks it against keyward before timing).
"""

import base64
import datetime
import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Union

from Crypto.Cipher import AES

_HEX32 = re.compile("^[0-9a-f]{32}$")
_HEX64 = re.compile("^[0-9a-f]{64}$")
_DATE = re.compile("^[0-9]{4}-[0,1][0-9]-[0-5][0-9]T([0-2][0-9]:[0-5][0-9]:[0-5][0-9])Z$")
TRACK_TYPES = ("ALL", "ALL_VIDEO", "AUDIO", "SD", "HD", "UHD1", "UHD2")
IV = b"0123456789abcdef"


class TokenError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _need(ok: bool, code: str) -> None:
    if not ok:
        raise TokenError(code)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Section:
    """A policy section: checked setters fill ``_fields`` in a fixed order."""

    ORDER: tuple = ()

    def __init__(self) -> None:
        self._fields: Dict[str, Any] = {}

    def _set(self, key: str, value: Any, ok: bool, code: str) -> "Section":
        _need(ok, code)
        self._fields[key] = value
        return self

    def dict(self) -> Dict[str, Any]:
        return {k: self._fields[k] for k in self.ORDER if k in self._fields}


class PlaybackPolicy(Section):
    ORDER = ("persistent", "license_duration", "expire_date", "allowed_track_types",
             "rental_duration", "playback_duration", "max_stream_per_user")

    def persistent(self, v: bool) -> "PlaybackPolicy":
        return self._set("persistent", v, isinstance(v, bool), "1009")  # type: ignore[return-value]

    def license_duration(self, v: int) -> "PlaybackPolicy":
        return self._set("license_duration", v, _is_int(v), "1010")  # type: ignore[return-value]

    def expire_date(self, v: str) -> "PlaybackPolicy":
        return self._set("expire_date", v, isinstance(v, str) and _DATE.match(v) is not None, "1011")  # type: ignore[return-value]

    def allowed_track_types(self, v: str) -> "PlaybackPolicy":
        ok = isinstance(v, str) and v in ("ALL", "SD_ONLY", "SD_HD", "SD_UHD1", "SD_UHD2")
        return self._set("allowed_track_types", v, ok, "1012")  # type: ignore[return-value]


class Widevine(Section):
    ORDER = ("security_level", "required_hdcp_version", "required_cgms_flags", "disable_analog_output",
             "hdcp_srm_rule", "enable_license_cipher")

    def security_level(self, v: int) -> "Widevine":
        return self._set("security_level", v, v in (1, 2, 3, 4, 5), "1022")  # type: ignore[return-value]

    def required_hdcp_version(self, v: str) -> "Widevine":
        ok = v in ("HDCP_NONE", "HDCP_V1", "HDCP_V2", "HDCP_V2_1", "HDCP_V2_2", "HDCP_NO_DIGITAL_OUTPUT")
        return self._set("required_hdcp_version", v, ok, "1023")  # type: ignore[return-value]

    def required_cgms_flags(self, v: str) -> "Widevine":
        ok = v in ("CGMS_NONE", "COPY_FREE", "COPY_ONCE", "COPY_NEVER")
        return self._set("required_cgms_flags", v, ok, "1024")  # type: ignore[return-value]

    def override_device_revocation(self, v: bool) -> "Widevine":
        # Checked and kept, but not written (as PallyCon 2.1 does).
        return self._set("override_device_revocation", v, isinstance(v, bool), "1051")  # type: ignore[return-value]


class Playready(Section):
    ORDER = ("security_level", "digital_video_protection_level", "analog_video_protection_level",
             "digital_audio_protection_level", "require_hdcp_type_1")

    def security_level(self, v: int) -> "Playready":
        return self._set("security_level", v, v in (150, 2000, 3000), "1027")  # type: ignore[return-value]

    def digital_video_protection_level(self, v: int) -> "Playready":
        return self._set("digital_video_protection_level", v, v in (100, 250, 270, 300, 301), "1028")  # type: ignore[return-value]

    def analog_video_protection_level(self, v: int) -> "Playready":
        return self._set("analog_video_protection_level", v, v in (100, 150, 200, 201), "1029")  # type: ignore[return-value]

    def digital_audio_protection_level(self, v: int) -> "Playready":
        return self._set("digital_audio_protection_level", v, v in (100, 250, 300, 301), "1030")  # type: ignore[return-value]


class Fairplay(Section):
    ORDER = ("hdcp_enforcement", "allow_airplay", "allow_av_adapter")

    def hdcp_enforcement(self, v: int) -> "Fairplay":
        return self._set("hdcp_enforcement", v, v in (-1, 0, 1), "1033")  # type: ignore[return-value]

    def allow_airplay(self, v: bool) -> "Fairplay":
        return self._set("allow_airplay", v, isinstance(v, bool), "1034")  # type: ignore[return-value]

    def allow_av_adapter(self, v: bool) -> "Fairplay":
        return self._set("allow_av_adapter", v, isinstance(v, bool), "1035")  # type: ignore[return-value]


class NcgSecurity(Section):
    ORDER = ("allow_mobile_abnormal_device", "allow_external_display", "control_hdcp")

    def allow_mobile_abnormal_device(self, v: bool) -> "NcgSecurity":
        return self._set("allow_mobile_abnormal_device", v, isinstance(v, bool), "1036")  # type: ignore[return-value]

    def allow_external_display(self, v: bool) -> "NcgSecurity":
        return self._set("allow_external_display", v, isinstance(v, bool), "1037")  # type: ignore[return-value]

    def control_hdcp(self, v: int) -> "NcgSecurity":
        return self._set("control_hdcp", v, v in (0, 1, 2), "1038")  # type: ignore[return-value]


class SecurityPolicy:
    def __init__(self) -> None:
        self._track = "ALL"
        self._parts: Dict[str, Dict[str, Any]] = {}

    def track_type(self, v: str) -> "SecurityPolicy":
        _need(isinstance(v, str) and v in TRACK_TYPES, "1013")
        self._track = v
        return self

    def _part(self, key: str, v: Any, cls: type, code: str) -> "SecurityPolicy":
        _need(isinstance(v, cls), code)
        self._parts[key] = v.dict()
        return self

    def widevine(self, v: Widevine) -> "SecurityPolicy":
        return self._part("widevine", v, Widevine, "1014")

    def playready(self, v: Playready) -> "SecurityPolicy":
        return self._part("playready", v, Playready, "1015")

    def fairplay(self, v: Fairplay) -> "SecurityPolicy":
        return self._part("fairplay", v, Fairplay, "1016")

    def ncg(self, v: NcgSecurity) -> "SecurityPolicy":
        return self._part("ncg", v, NcgSecurity, "1017")

    def dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"track_type": self._track}
        for k in ("widevine", "playready", "fairplay", "ncg"):
            if k in self._parts:
                out[k] = self._parts[k]
        return out


class _Key:
    def __init__(self, codes: tuple, track_type: str, key_id: str, key: str, iv: Optional[str]) -> None:
        _need(isinstance(track_type, str) and track_type in TRACK_TYPES, codes[0])
        _need(isinstance(key_id, str) and _HEX32.match(key_id) is not None, codes[1])
        _need(isinstance(key, str) and _HEX32.match(key) is not None, codes[2])
        _need(iv is None or (isinstance(iv, str) and _HEX32.match(iv) is not None), codes[3])
        self._d = {"track_type": track_type, "key_id": key_id, "key": key, "iv": iv}

    def dict(self) -> Dict[str, Any]:
        return dict(self._d)


class MpegCenc(_Key):
    def __init__(self, track_type: str = "", key_id: str = "", key: str = "", iv: Optional[str] = None) -> None:
        super().__init__(("1039", "1040", "1041", "1042"), track_type, key_id, key, iv)


class HlsAes(_Key):
    def __init__(self, track_type: str = "", key_id: str = "", key: str = "", iv: str = "") -> None:
        super().__init__(("1043", "1052", "1044", "1045"), track_type, key_id, key, iv)
        _need(isinstance(iv, str), "1045")


class NcgKey:
    def __init__(self, track_type: str = "", cek: str = "") -> None:
        _need(isinstance(track_type, str) and track_type in TRACK_TYPES, "1046")
        _need(isinstance(cek, str) and _HEX64.match(cek) is not None, "1047")
        self._d = {"track_type": track_type, "cek": cek}

    def dict(self) -> Dict[str, Any]:
        return dict(self._d)


class ExternalKey:
    def __init__(self) -> None:
        self._mpeg: List[Dict[str, Any]] = []
        self._hls: List[Dict[str, Any]] = []
        self._ncg: Optional[Dict[str, Any]] = None

    def mpeg_cenc(self, v: Union[MpegCenc, List[MpegCenc]]) -> "ExternalKey":
        if isinstance(v, list):
            self._mpeg = [i.dict() for i in v]
        else:
            _need(isinstance(v, MpegCenc), "1019")
            self._mpeg.append(v.dict())
        return self

    def hls_aes(self, v: Union[HlsAes, List[HlsAes]]) -> "ExternalKey":
        if isinstance(v, list):
            self._hls = [i.dict() for i in v]
        else:
            _need(isinstance(v, HlsAes), "1020")
            self._hls.append(v.dict())
        return self

    def ncg(self, v: NcgKey) -> "ExternalKey":
        _need(isinstance(v, NcgKey), "1021")
        self._ncg = v.dict()
        return self

    def dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self._mpeg:
            out["mpeg_cenc"] = self._mpeg
        if self._hls:
            out["hls_aes"] = self._hls
        if self._ncg is not None:
            out["ncg"] = self._ncg
        return out


class Policy:
    def __init__(self) -> None:
        self._playback: Optional[Dict[str, Any]] = None
        self._security: List[Dict[str, Any]] = []
        self._external: Optional[Dict[str, Any]] = None

    def playback(self, v: PlaybackPolicy) -> "Policy":
        _need(isinstance(v, PlaybackPolicy), "1006")
        self._playback = v.dict()
        return self

    def security(self, v: Union[SecurityPolicy, List[SecurityPolicy]]) -> "Policy":
        if isinstance(v, list):
            self._security = [i.dict() for i in v]
        else:
            _need(isinstance(v, SecurityPolicy), "1007")
            self._security.append(v.dict())
        return self

    def external(self, v: ExternalKey) -> "Policy":
        _need(isinstance(v, ExternalKey), "1008")
        d = v.dict()
        _need(bool(d), "1018")
        self._external = d
        return self

    def to_json_str(self) -> str:
        out: Dict[str, Any] = {"policy_version": 2}
        if self._playback is not None:
            out["playback_policy"] = self._playback
        if self._security:
            out["security_policy"] = self._security
        if self._external is not None:
            out["external_policy"] = self._external
        return json.dumps(out)


class Client:
    """The token client: drm type, credentials, ids, policy, then execute()."""

    def __init__(self) -> None:
        self._drm = "PlayReady"
        self._site_id: Optional[str] = None
        self._site_key: Optional[str] = None
        self._access_key: Optional[str] = None
        self._user_id: Optional[str] = None
        self._cid: Optional[str] = None
        self._enc_policy: Optional[str] = None
        self._response_format = "original"

    def widevine(self) -> "Client":
        self._drm = "Widevine"
        return self

    def site_id(self, v: str) -> "Client":
        self._site_id = v
        return self

    def site_key(self, v: str) -> "Client":
        self._site_key = v
        return self

    def access_key(self, v: str) -> "Client":
        self._access_key = v
        return self

    def user_id(self, v: str) -> "Client":
        self._user_id = v
        return self

    def cid(self, v: str) -> "Client":
        self._cid = v
        return self

    def policy(self, p: Policy) -> "Client":
        # Like the SDK: serialize and encrypt right away.
        text = p.to_json_str()
        pad = 16 - len(text) % 16
        data = (text + chr(pad) * pad).encode("utf-8")
        cipher = AES.new(bytes(self._site_key or "", "utf-8"), AES.MODE_CBC, IV)
        self._enc_policy = base64.b64encode(cipher.encrypt(data)).decode("utf-8")
        return self

    def response_format(self, v: str) -> "Client":
        _need(v in ("original", "custom"), "1048")
        self._response_format = v
        return self

    def execute(self) -> str:
        for value, code in ((self._user_id, "1000"), (self._cid, "1001"), (self._site_id, "1002"),
                            (self._access_key, "1003"), (self._site_key, "1004"), (self._enc_policy, "1005")):
            _need(value is not None, code)
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        hash_input = "".join([self._access_key, self._drm, self._site_id, self._user_id, self._cid,  # type: ignore[list-item]
                              self._enc_policy, ts])  # type: ignore[list-item]
        digest = base64.b64encode(hashlib.sha256(hash_input.encode("utf-8")).digest()).decode("utf-8")
        payload = json.dumps({
            "drm_type": self._drm,
            "site_id": self._site_id,
            "user_id": self._user_id,
            "cid": self._cid,
            "policy": self._enc_policy,
            "response_format": self._response_format,
            "timestamp": ts,
            "hash": digest,
        })
        return base64.b64encode(payload.encode("utf-8")).decode("utf-8")
