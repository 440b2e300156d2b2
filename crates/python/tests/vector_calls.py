"""Translates the vector records' ``policy_builder_description`` into builder
calls on keyward's SDK classes.

Every record describes the builder calls the official SDK ran. Two tables
turn them back into calls:

* ``build_policy`` walks the recorded ``policy_json`` and calls, for every
  key, the setter of the same name on the SDK class of that section (e.g.
  ``"widevine": {"security_level": 5}`` -> ``Widevine().security_level(5)``),
  in the order the JSON lists them, or in reverse where the record says the
  SDK called them in reverse. Values are passed as decoded, so ``true`` for a
  level is passed as ``True`` and ``150.0`` as a float, exactly the quirky
  calls the records describe. Records whose calls leave no trace in the JSON
  have an explicit entry in ``EXPLICIT`` (e.g. ``override_device_revocation``,
  which PallyCon 2.1 accepts but never writes).
* ``BAD_CALLS`` gives, for every SDK error code, the call that raises it;
  ``ERROR_RECORDS`` maps the published error records to the exact call
  their description names (unknown records fall back to their code's call).
"""

import json
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

import keyward.doverunner as dr
import keyward.pallycon as pc

HEX32 = "11111111222222223333333344444444"
HEX32B = "aaaaaaaabbbbbbbbccccccccdddddddd"
HEX64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def ns_for(record: Dict[str, Any]) -> Any:
    """The namespace (keyward.pallycon or keyward.doverunner) of a record's SDK."""
    repo = record["sdk"]["repo"] or ""
    return dr if repo.startswith("doverunner/drm-license-token-sample-python") else pc


def dialect_for(record: Dict[str, Any]) -> str:
    repo = record["sdk"]["repo"] or ""
    if repo.startswith("doverunner/drm-license-token-sample-python"):
        return "doverunner"
    if repo.startswith("doverunner/drm-license-token-sample"):
        return "pallycon-unified"
    return "pallycon"


def _apply(obj: Any, items: "OrderedDict[str, Any]", reverse: bool = False) -> Any:
    keys = list(items.keys())
    if reverse:
        keys.reverse()
    for k in keys:
        obj = getattr(obj, k)(items[k])
    return obj


def build_policy(ns: Any, policy: "OrderedDict[str, Any]", reverse: bool = False) -> Any:
    """Builder calls reproducing ``policy`` (a decoded SDK policy JSON)."""
    p = ns.Policy()
    if "playback_policy" in policy:
        p.playback(_apply(ns.PlaybackPolicy(), policy["playback_policy"], reverse))
    for entry in policy.get("security_policy", []):
        sec = ns.SecurityPolicy()
        for k, v in entry.items():
            if k == "track_type":
                sec.track_type(v)
                continue
            section = {
                "widevine": ns.SecurityPolicyWidevine,
                "playready": ns.SecurityPolicyPlayready,
                "fairplay": ns.SecurityPolicyFairplay,
                "ncg": ns.SecurityPolicyNcg,
                "wiseplay": ns.SecurityPolicyWiseplay,
            }[k]
            getattr(sec, k)(_apply(section(), v, reverse))
        p.security(sec)
    ext = policy.get("external_policy")
    if ext is not None:
        e = ns.ExternalKey()
        for item in ext.get("mpeg_cenc", []):
            e.mpeg_cenc(ns.MpegCenc(item["track_type"], item["key_id"], item["key"], item["iv"]))
        if "hls_aes" in ext:
            e.hls_aes([ns.HlsAes(i["track_type"], i["key_id"], i["key"], i["iv"]) for i in ext["hls_aes"]])
        if "ncg" in ext:
            e.ncg(ns.Ncg(ext["ncg"]["track_type"], ext["ncg"]["cek"]))
        p.external(e)
    return p


def _override_only(ns: Any) -> Any:
    # widevine().override_device_revocation(False) only: 2.1 drops the field.
    return ns.Policy().security(ns.SecurityPolicy().widevine(ns.Widevine().override_device_revocation(False)))


def _list_then_append(ns: Any) -> Any:
    return ns.Policy().security([ns.SecurityPolicy().track_type("SD")]).security(ns.SecurityPolicy().track_type("HD"))


def _seed_readme_style(ns: Any) -> Any:
    return ns.Policy().playback(ns.PlaybackPolicy().persistent(False))


#: Records whose builder calls cannot be read back from their JSON.
EXPLICIT: Dict[str, Callable[[Any], Any]] = {
    "security_widevine_override_revocation_only": _override_only,
    "security_list_then_append": _list_then_append,
    "seed_inputs_sdk_serialization": _seed_readme_style,
}

#: Records whose description says the setters were called in reverse order.
REVERSED = {"playback_all_fields"}

#: Records no builder call can produce, and why (checked another way).
NOT_BUILDER = {
    "reference_seed_compact_json": "compact JSON from the vendor tutorial (Java/JS/PHP style), not the Python SDK's; "
    "the policy text is passed as is and ciphertext + hash are compared",
    "reference_docs_tutorial_v1_token_key": "legacy v1 policy and the legacy 'token' key from the Node tutorial; "
    "the policy text is passed as is and ciphertext + hash are compared",
}


def drm_call(client: Any, drm_type: str, explicit_default: bool) -> Any:
    """The client's drm setter for a recorded drm_type."""
    if drm_type == "PlayReady" and not explicit_default:
        return client
    return getattr(client, {"Widevine": "widevine", "PlayReady": "playready", "FairPlay": "fairplay", "NCG": "ncg"}[drm_type])()


def client_for(record: Dict[str, Any], policy: Any) -> Any:
    """The client calls a valid record describes, with the policy given."""
    i = record["inputs"]
    ns = ns_for(record)
    c = ns.Token() if ns is dr else ns.Token(dialect=dialect_for(record))
    c = drm_call(c, i["drm_type"], record["name"] != "default_drm_type_no_setter")
    c = c.site_id(i["site_id"]).site_key(i["site_key"]).access_key(i["access_key"])
    c = c.user_id(i["user_id"]).cid(i["cid"]).policy(policy)
    rf = i.get("response_format", "")
    if rf in ("original", "custom", "json"):
        c = c.response_format(rf)
    if "key_rotation" in i:
        c = c.key_rotation(i["key_rotation"])
    return c.timestamp(i["timestamp"])


def decoded_policy(record: Dict[str, Any]) -> "OrderedDict[str, Any]":
    return json.loads(record["inputs"]["policy_json"], object_pairs_hook=OrderedDict)


def policy_for(record: Dict[str, Any]) -> Any:
    ns = ns_for(record)
    name = record["name"]
    if name in EXPLICIT:
        return EXPLICIT[name](ns)
    return build_policy(ns, decoded_policy(record), reverse=name in REVERSED)


# ---------------------------------------------------------------- errors


def _client(ns: Any, **skip: bool) -> Any:
    c = ns.Token().widevine()
    fields = {
        "site_id": "TUTO",
        "site_key": "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        "access_key": "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
        "user_id": "test-user",
        "cid": "bigbuckbunny",
    }
    for k, v in fields.items():
        if not skip.get(k):
            c = getattr(c, k)(v)
    if not skip.get("policy"):
        c = c.policy(ns.Policy())
    return c


#: For every SDK code, a call that raises it (ns: keyward.pallycon or keyward.doverunner).
BAD_CALLS: Dict[int, Callable[[Any], Any]] = {
    1000: lambda ns: _client(ns, user_id=True).execute(),
    1001: lambda ns: _client(ns, cid=True).execute(),
    1002: lambda ns: _client(ns, site_id=True).execute(),
    1003: lambda ns: _client(ns, access_key=True).execute(),
    1004: lambda ns: _client(ns, site_key=True, policy=True).execute(),
    1005: lambda ns: _client(ns, policy=True).execute(),
    1006: lambda ns: ns.Policy().playback({"persistent": False}),
    1007: lambda ns: ns.Policy().security("ALL"),
    1008: lambda ns: ns.Policy().external({}),
    1009: lambda ns: ns.PlaybackPolicy().persistent("false"),
    1010: lambda ns: ns.PlaybackPolicy().license_duration("3600"),
    1011: lambda ns: ns.PlaybackPolicy().expire_date("2024-01-01 00:00:00"),
    1012: lambda ns: ns.PlaybackPolicy().allowed_track_types("HD_ONLY"),
    1013: lambda ns: ns.SecurityPolicy().track_type("SD_ONLY"),
    1014: lambda ns: ns.SecurityPolicy().widevine(ns.Playready()),
    1015: lambda ns: ns.SecurityPolicy().playready(ns.Widevine()),
    1016: lambda ns: ns.SecurityPolicy().fairplay(None),
    1017: lambda ns: ns.SecurityPolicy().ncg(ns.Widevine()),
    1018: lambda ns: ns.Policy().external(ns.ExternalKey()),
    1019: lambda ns: ns.ExternalKey().mpeg_cenc({"key": HEX32}),
    1020: lambda ns: ns.ExternalKey().hls_aes("x"),
    1021: lambda ns: ns.ExternalKey().ncg([ns.Ncg("ALL", HEX64)]),
    1022: lambda ns: ns.Widevine().security_level(6),
    1023: lambda ns: ns.Widevine().required_hdcp_version("HDCP_V2_3"),
    1024: lambda ns: ns.Widevine().required_cgms_flags("COPY_ALWAYS"),
    1025: lambda ns: ns.Widevine().disable_analog_output(1),
    1026: lambda ns: ns.Widevine().hdcp_srm_rule("NONE"),
    1027: lambda ns: ns.Playready().security_level(100),
    1028: lambda ns: ns.Playready().digital_video_protection_level(200),
    1029: lambda ns: ns.Playready().analog_video_protection_level(250),
    1030: lambda ns: ns.Playready().digital_audio_protection_level(150),
    1032: lambda ns: ns.Playready().require_hdcp_type_1("yes"),
    1033: lambda ns: ns.Fairplay().hdcp_enforcement(2),
    1034: lambda ns: ns.Fairplay().allow_airplay("true"),
    1035: lambda ns: ns.Fairplay().allow_av_adapter(0),
    1036: lambda ns: ns.SecurityPolicyNcg().allow_mobile_abnormal_device(None),
    1037: lambda ns: ns.SecurityPolicyNcg().allow_external_display(1),
    1038: lambda ns: ns.SecurityPolicyNcg().control_hdcp(3),
    1039: lambda ns: ns.MpegCenc("XX", HEX32, HEX32B),
    1040: lambda ns: ns.MpegCenc("HD", HEX32.upper().replace("1", "A"), HEX32B),
    1041: lambda ns: ns.MpegCenc("HD", HEX32, HEX32B[:30]),
    1042: lambda ns: ns.MpegCenc("HD", HEX32, HEX32B, "00"),
    1043: lambda ns: ns.HlsAes("ALL_AUDIO", HEX32, HEX32B, HEX32),
    1044: lambda ns: ns.HlsAes("SD", HEX32, "zz" + HEX32B[2:], HEX32),
    1045: lambda ns: ns.HlsAes("SD", HEX32, HEX32B),
    1046: lambda ns: ns.Ncg("", HEX64),
    1047: lambda ns: ns.Ncg("ALL", HEX64[:32]),
    1048: lambda ns: ns.Token().response_format("ORIGINAL"),
    1049: lambda ns: ns.PlaybackPolicy().rental_duration(1.5),
    1050: lambda ns: ns.PlaybackPolicy().playback_duration(None),
    1051: lambda ns: ns.Widevine().override_device_revocation("false"),
    1052: lambda ns: ns.HlsAes("SD", HEX32[:31], HEX32B, HEX32),
    1053: lambda ns: ns.PlaybackPolicy().max_stream_per_user("2"),
    1054: lambda ns: ns.Widevine().enable_license_cipher("no"),
    1055: lambda ns: ns.Token().key_rotation("true"),
    1056: lambda ns: ns.PlaybackPolicy().renewal_duration(True),
    1057: lambda ns: ns.SecurityPolicy().wiseplay(ns.Widevine()),
    1058: lambda ns: ns.Playready().enable_license_cipher(1),
    1059: lambda ns: ns.Widevine().allow_test_device("yes"),
    1060: lambda ns: ns.Wiseplay().security_level("2"),
    1061: lambda ns: ns.Wiseplay().output_control(None),
    1062: lambda ns: ns.SecurityPolicy().ncg({}),
}

#: The published error records, with exactly the call their description names.
ERROR_RECORDS: Dict[str, Callable[[Any], Any]] = {
    "err_1000_user_id_missing": BAD_CALLS[1000],
    "err_1001_cid_missing": BAD_CALLS[1001],
    "err_1002_site_id_missing": BAD_CALLS[1002],
    "err_1003_access_key_missing": BAD_CALLS[1003],
    "err_1004_site_key_missing": BAD_CALLS[1004],
    "err_1005_policy_missing": BAD_CALLS[1005],
    "err_1007_security_not_instance": lambda ns: ns.Policy().security("ALL"),
    "err_1008_external_not_instance": lambda ns: ns.Policy().external({}),
    "err_1010_license_duration_str": lambda ns: ns.PlaybackPolicy().license_duration("3600"),
    "err_1011_expire_date_format": lambda ns: ns.PlaybackPolicy().expire_date("2024-01-01 00:00:00"),
    "err_1011_expire_date_millis": lambda ns: ns.PlaybackPolicy().expire_date("2024-01-01T00:00:00.000Z"),
    "err_1012_allowed_track_types": lambda ns: ns.PlaybackPolicy().allowed_track_types("HD_ONLY"),
    "err_1014_widevine_instance": lambda ns: ns.SecurityPolicy().widevine(ns.Playready()),
    "err_1016_fairplay_instance": lambda ns: ns.SecurityPolicy().fairplay(None),
    "err_1017_ncg_instance": lambda ns: ns.SecurityPolicy().ncg(ns.Widevine()),
    "err_1019_mpeg_cenc_instance": lambda ns: ns.ExternalKey().mpeg_cenc({"key": HEX32B}),
    "err_1020_hls_aes_instance": lambda ns: ns.ExternalKey().hls_aes("x"),
    "err_1021_ncg_instance": lambda ns: ns.ExternalKey().ncg([ns.Ncg("ALL", HEX64)]),
    "err_1023_widevine_hdcp": lambda ns: ns.Widevine().required_hdcp_version("HDCP_V2_3"),
    "err_1025_widevine_analog": lambda ns: ns.Widevine().disable_analog_output(1),
    "err_1026_widevine_srm": lambda ns: ns.Widevine().hdcp_srm_rule("NONE"),
    "err_1028_playready_dvp": lambda ns: ns.Playready().digital_video_protection_level(200),
    "err_1032_playready_hdcp_type1": lambda ns: ns.Playready().require_hdcp_type_1("yes"),
    "err_1035_fairplay_av_adapter": lambda ns: ns.Fairplay().allow_av_adapter(0),
    "err_1036_ncg_abnormal": lambda ns: ns.SecurityPolicyNcg().allow_mobile_abnormal_device(None),
    "err_1038_ncg_control_hdcp": lambda ns: ns.SecurityPolicyNcg().control_hdcp(3),
    "err_1039_mpeg_track": lambda ns: ns.MpegCenc("XX", HEX32, HEX32B),
    "err_1040_mpeg_key_id_upper": lambda ns: ns.MpegCenc("HD", "ABCDEF00222222223333333344444444", HEX32B),
    "err_1041_mpeg_key_short": lambda ns: ns.MpegCenc("HD", HEX32, HEX32B[:30]),
    "err_1044_hls_key": lambda ns: ns.HlsAes("SD", HEX32, "zz" + HEX32B[2:], HEX32),
    "err_1045_hls_iv_missing": lambda ns: ns.HlsAes("SD", HEX32, HEX32B),
    "err_1046_ncg_track": lambda ns: ns.Ncg("", HEX64),
    "err_1047_ncg_cek_16_bytes": lambda ns: ns.Ncg("ALL", HEX64[:32]),
    "err_1049_rental_float": lambda ns: ns.PlaybackPolicy().rental_duration(1.5),
    "err_1051_override_revocation": lambda ns: ns.Widevine().override_device_revocation("false"),
    "err_1053_max_stream_str": lambda ns: ns.PlaybackPolicy().max_stream_per_user("2"),
    "err_1048_response_format_json": lambda ns: ns.Token().response_format("json"),
    "err_1048_response_format_upper": lambda ns: ns.Token().response_format("ORIGINAL"),
    "err_1058_playready_cipher": lambda ns: ns.Playready().enable_license_cipher(1),
    "err_1062_ncg_instance": lambda ns: ns.SecurityPolicy().ncg({}),
    "err_1060_wiseplay_level": lambda ns: ns.Wiseplay().security_level("2"),
    "err_1061_wiseplay_output": lambda ns: ns.Wiseplay().output_control(None),
    "err_1056_renewal_bool": lambda ns: ns.PlaybackPolicy().renewal_duration(True),
}


def error_call(record: Dict[str, Any]) -> Optional[Callable[[Any], Any]]:
    """The failing call of an error record (by name, else by its code)."""
    name = record["name"]
    if name == "err_1055_key_rotation_not_bool":
        value = record["inputs"]["key_rotation"]
        dialect = dialect_for(record)
        return lambda ns: (ns.Token() if ns is dr else ns.Token(dialect=dialect)).key_rotation(value)
    if name in ERROR_RECORDS:
        return ERROR_RECORDS[name]
    code = expected_code(record)
    return BAD_CALLS.get(code) if code is not None else None


def expected_code(record: Dict[str, Any]) -> Optional[int]:
    """The SDK code an error record stands for (the name's, when the SDK's
    own outcome is nondeterministic)."""
    err = record["expected_error"]
    if err.get("code"):
        return int(err["code"])
    name = record["name"]
    if name.startswith("err_") and name[4:8].isdigit():
        return int(name[4:8])
    return None
