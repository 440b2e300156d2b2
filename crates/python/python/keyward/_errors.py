"""The exceptions raised by keyward's token SDK, with the vendor SDKs' codes.

``PallyConTokenException`` carries ``error_code`` (a four-digit string, as the
SDKs print it) and ``error_message``; ``str(e)`` is the SDKs' own text,
``YOU'VE GOT THE ERROR ||||| {"error_code": "...", "error_message": "..."}``.
``DoverunnerTokenException`` (DoveRunner 3 dialect) is a subclass, so
``except PallyConTokenException`` catches both.
"""

import json
from typing import Dict, Optional

_TEMPLATE = {
    "1000": "Token err : The userId is Required",
    "1001": "Token err : The cId is Required",
    "1002": "Token err : The siteId is Required",
    "1003": "Token err : The accessKey is Required",
    "1004": "Token err : The siteKey is Required",
    "1005": "Token err : The policy is Required",
    "1006": "Policy Err : The playback_policy should be an instance of PlaybackPolicy",
    "1007": "Policy Err : The security_policy should be an instance of SecurityPolicy or List[SecurityPolicy]",
    "1008": "Policy Err : The external_key should be an instance of ExternalKey",
    "1009": "PlaybackPolicy : The persistent should be Boolean",
    "1010": "PlaybackPolicy : The license_duration should be Integer",
    "1011": "PlaybackPolicy : The expireDate time format should be 'YYYY-MM-DD'T'HH:mm:ss'Z'",
    "1012": "PlaybackPolicy : The allowed_track_types value should be in allowed_track_types module",
    "1013": "SecurityPolicy : The track_type should be in type of TRACK_TYPE in [{pkg}.config.track_type] module",
    "1014": "SecurityPolicy : The widevine should be an instance of SecurityPolicyWidevine",
    "1015": "SecurityPolicy : The playready should be an instance of SecurityPolicyPlayready",
    "1016": "SecurityPolicy : The fairplay should be an instance of SecurityPolicyFairplay",
    "1017": "SecurityPolicy : The ncg should be an instance of SecurityPolicyNcg",
    "1018": "ExternalKey: The ExternalKey Should be filled if called",
    "1019": "ExternalKey: The MpegCenc should be an instance of MpegCenc or List[MpegCenc]",
    "1020": "ExternalKey: The HlsAes should be an instance of HlsAes or List[HlsAes]",
    "1021": "ExternalKey: The Ncg should be an instance of Ncg",
    "1022": "SecurityPolicyWidevine: The security_level should be in type of SECURITY_LEVEL in [{pkg}.config.widevine.security_level] module",
    "1023": "SecurityPolicyWidevine: The required_hdcp_version should be in type of REQUIRED_HDCP_VERSION in [{pkg}.config.widevine.required_hdcp_version] module",
    # The SDKs cite the security_level module here; kept as they print it.
    "1024": "SecurityPolicyWidevine: The required_cgms_flags should be in type of REQUIRED_CGMS_FLAGS in [{pkg}.config.widevine.security_level] module",
    "1025": "SecurityPolicyWidevine: The disable_analog_output should be Boolean",
    "1026": "SecurityPolicyWidevine: The hdcp_srm_rule should be in type of HDCP_SRM_RULE in [{pkg}.config.widevine.hdcp_srm_rule] module",
    "1027": "SecurityPolicyPlayready: The security_level should be in type of SECURITY_LEVEL in [{pkg}.config.playready.security_level] module",
    "1028": "SecurityPolicyPlayready: The digital_video_protection_level should be in type of DIGITAL_VIDEO_PROTECTION_LEVEL in [{pkg}.config.playready.digital_video_protection] module",
    "1029": "SecurityPolicyPlayready: The analog_video_protection_level should be in type of ANALOG_VIDEO_PROTECTION_LEVEL in [{pkg}.config.playready.analog_video_protection] module",
    "1030": "SecurityPolicyPlayready: The digital_audio_protection_level should be in type of DIGITAL_AUDIO_PROTECTION in [{pkg}.config.playready.digital_audio_protection] module",
    "1032": "SecurityPolicyPlayready: The require_hdcp_type_1 should be Boolean",
    "1033": "SecurityPolicyFairplay: The hdcp_enforcement should be in type of FAIRPLAY_HDCP_ENFORCEMENT in [{pkg}.config.fairplay_hdcp_enforcement] module",
    "1034": "SecurityPolicyFairplay: The allow_airplay should be Boolean",
    "1035": "SecurityPolicyFairplay: The allow_av_adapter should be Boolean",
    "1036": "SecurityPolicyNcg: The allow_mobile_abnormal_device should be Boolean",
    "1037": "SecurityPolicyNcg: The allow_external_display should be Boolean",
    "1038": "SecurityPolicyNcg: The control_hdcp should be in type of CONTROL_HDCP in [{pkg}.config.ncg_control_hdcp] module",
    "1039": "ExternalKeyMpegCenc: The track_type should be in type of TRACK_TYPE in [{pkg}.config.track_type] module",
    "1040": "ExternalKeyMpegCenc : The key_id should be 16byte hex String",
    "1041": "ExternalKeyMpegCenc : The key should be 16byte hex String",
    "1042": "ExternalKeyMpegCenc : The iv should be 16byte hex String",
    "1043": "ExternalKeyHlsAes: The track_type should be in type of TRACK_TYPE in [{pkg}.config.track_type] module",
    "1044": "ExternalKeyHlsAes : The key should be 16byte hex String",
    "1045": "ExternalKeyHlsAes : The iv should be 16byte hex String",
    "1046": "ExternalKeyNcg : The track_type should be in type of TRACK_TYPE in [{pkg}.config.track_type] module",
    "1047": "ExternalKeyNcg : The Cek should be 32byte hex String",
    "1048": "Token err : The response_format should be in type of RESPONSE_FORMAT in [{pkg}.config.response_format] module",
    "1049": "PlaybackPolicy : The rental_duration should be Integer",
    "1050": "PlaybackPolicy : The playback_duration should be Integer",
    "1051": "SecurityPolicyWidevine: The override_device_revocation should be Boolean",
    "1052": "ExternalKeyHlsAes : The key_id should be 16byte hex String",
    "1053": "PlaybackPolicy : The max_stream_per_user should be Integer",
    "1054": "SecurityPolicyWidevine : The enable_license_cipher should be Boolean",
    # PallyCon 2.x (unified samples) and DoveRunner 3.
    "1055": "Token err : The key_rotation should be Boolean",
    # DoveRunner 3 (its SDK writes 1056, 1057 and 1062 as set literals, so it
    # sometimes raises KeyError instead; keyward raises the intended error).
    "1056": "PlaybackPolicy : The renewal_duration should be Integer or String",
    "1057": "SecurityPolicy : The wiseplay should be an instance of SecurityPolicyWiseplay",
    "1058": "SecurityPolicyPlayready: The enable_license_cipher should be Boolean",
    "1059": "SecurityPolicyWidevine: The allow_test_device should be Boolean",
    "1060": "SecurityPolicyWiseplay: The security_level should be Integer",
    "1061": "SecurityPolicyWiseplay: The output_control should be Integer",
    "1062": "SecurityPolicy : The ncg should be an instance of SecurityPolicyNcg",
    # keyward's own (as `keyward token issue` prints them).
    "1090": "Token err : The drm_type should be one of PlayReady, Widevine, FairPlay, NCG, Wiseplay, ClearKey",
    "1091": "Token err : The timestamp should be 'YYYY-MM-DD'T'HH:mm:ss'Z' (UTC)",
}

PALLYCON_MESSAGES: Dict[str, str] = {
    code: text.replace("{pkg}", "pallycon") for code, text in _TEMPLATE.items()
}
DOVERUNNER_MESSAGES: Dict[str, str] = {
    code: text.replace("{pkg}", "doverunner") for code, text in _TEMPLATE.items()
}


class PallyConTokenException(Exception):
    """A token could not be built: ``error_code`` says why (SDK codes 1000-1062).

    Constructed like the SDK's: ``PallyConTokenException('1048')``; ``message``
    overrides the SDK's text (keyward uses it to say more, e.g. a key's length).
    """

    _messages: Dict[str, str] = PALLYCON_MESSAGES

    def __init__(self, code: "str | int" = "0000", message: Optional[str] = None) -> None:
        code = "%04d" % code if isinstance(code, int) and not isinstance(code, bool) else str(code)
        if message is None:
            if code == "0000":
                message = "success"
            else:
                message = self._messages.get(code, "unknown error code " + code)
        self.error_code: str = code
        self.error_message: str = message
        super().__init__(code, message)

    @property
    def code(self) -> int:
        """``error_code`` as an int."""
        return int(self.error_code)

    def to_dict(self) -> Dict[str, str]:
        """``{"error_code": ..., "error_message": ...}``."""
        return {"error_code": self.error_code, "error_message": self.error_message}

    def __str__(self) -> str:
        return "YOU'VE GOT THE ERROR ||||| " + json.dumps(self.to_dict())


class DoverunnerTokenException(PallyConTokenException):
    """The DoveRunner 3 SDK's exception (its messages name ``doverunner.config``)."""

    _messages = DOVERUNNER_MESSAGES


#: The spelling DoveRunner's README uses.
DoveRunnerTokenException = DoverunnerTokenException


class TokenVerifyError(Exception):
    """``keyward.verify`` refused a token; ``code`` is the licence server's
    (7009 unreadable, 7011 expired, 7013 invalid JSON or policy, 7016 cannot
    decrypt or another site's, 7018 drm_type, 7019 hash mismatch)."""

    def __init__(self, code: int, message: str) -> None:
        self.code: int = int(code)
        self.message: str = message
        super().__init__(self.code, message)

    def __str__(self) -> str:
        return "%d: %s" % (self.code, self.message)
