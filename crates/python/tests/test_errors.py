"""Every SDK code from the builder call that should raise it, in both
dialects; bad input of every kind raises the SDK exception (never a Rust
panic); the exception behaves like the SDK's."""

import json
import pickle
from typing import Any

import pytest

import keyward
import keyward.doverunner as dr
import keyward.pallycon as pc
from conftest import ACCESS_KEY, SITE_KEY
from vector_calls import BAD_CALLS, HEX32, HEX32B, HEX64

CODES = sorted(BAD_CALLS)


def _expected(ns: Any, code: int) -> int:
    # The NCG section's type error is 1017 in PallyCon and 1062 in DoveRunner 3.
    if code in (1017, 1062):
        return 1062 if ns is dr else 1017
    return code


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("ns", [pc, dr], ids=["pallycon", "doverunner"])
def test_each_code_has_a_failing_call(ns: Any, code: int) -> None:
    exc = dr.DoverunnerTokenException if ns is dr else pc.PallyConTokenException
    with pytest.raises(exc) as e:
        BAD_CALLS[code](ns)
    want = _expected(ns, code)
    assert e.value.error_code == "%04d" % want
    assert type(e.value) is exc
    pkg = "doverunner" if ns is dr else "pallycon"
    other = "pallycon" if ns is dr else "doverunner"
    assert other + ".config" not in e.value.error_message
    if "config" in e.value.error_message:
        assert pkg + ".config" in e.value.error_message


def test_all_sdk_codes_are_covered() -> None:
    assert set(CODES) == set(range(1000, 1063)) - {1031}


def test_exception_like_the_sdk() -> None:
    with pytest.raises(pc.PallyConTokenException) as e:
        pc.Token().response_format("ORIGINAL")
    ex = e.value
    assert str(ex) == (
        "YOU'VE GOT THE ERROR ||||| "
        '{"error_code": "1048", "error_message": "Token err : The response_format should be in type of '
        'RESPONSE_FORMAT in [pallycon.config.response_format] module"}'
    )
    assert ex.to_dict() == json.loads(str(ex).split("||||| ")[1])
    assert isinstance(ex, Exception)
    again = pickle.loads(pickle.dumps(ex))
    assert (again.error_code, again.error_message) == (ex.error_code, ex.error_message)
    # Constructed as the SDK's is.
    assert pc.PallyConTokenException("1000").error_message == "Token err : The userId is Required"
    assert pc.PallyConTokenException().error_message == "success"
    # DoveRunner's is a subclass, so one except clause catches both.
    assert issubclass(dr.DoverunnerTokenException, pc.PallyConTokenException)
    from keyward.pallycon.exception.pallycon_token_exception import error_dict

    assert error_dict["1047"] == "ExternalKeyNcg : The Cek should be 32byte hex String"


class Weird:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


BAD_VALUES = [None, "1", b"1", 1.5, [], {}, object(), Weird(), float("nan"), float("inf"), 2**80, -(2**80)]


@pytest.mark.parametrize("v", BAD_VALUES, ids=repr)
def test_wrong_types_raise_the_field_code(v: Any) -> None:
    cases = [
        (lambda: pc.PlaybackPolicy().persistent(v), 1009),
        (lambda: pc.Widevine().security_level(v), 1022),
        (lambda: pc.Widevine().required_hdcp_version(v), 1023),
        (lambda: pc.Playready().security_level(v), 1027),
        (lambda: pc.Fairplay().hdcp_enforcement(v), 1033),
        (lambda: pc.SecurityPolicyNcg().control_hdcp(v), 1038),
        (lambda: pc.SecurityPolicy().track_type(v), 1013),
        (lambda: pc.PlaybackPolicy().allowed_track_types(v), 1012),
        (lambda: pc.PlaybackPolicy().expire_date(v), 1011),
        (lambda: pc.MpegCenc(v, HEX32, HEX32B), 1039),
        (lambda: pc.MpegCenc("HD", v, HEX32B), 1040),
        (lambda: pc.HlsAes("HD", HEX32, HEX32B, v), 1045),
        (lambda: pc.Ncg("ALL", v), 1047),
        (lambda: pc.Token().response_format(v), 1048),
        (lambda: pc.Token().key_rotation(v), 1055),
        (lambda: dr.Wiseplay().security_level(v), 1060),
    ]
    for call, code in cases:
        if isinstance(v, int) and not isinstance(v, bool) and code in (1060,):
            continue  # any int is a WisePlay level, as in the SDK
        with pytest.raises(pc.PallyConTokenException) as e:
            call()
        assert e.value.code == code, (call, v)


def test_int_durations_reject_everything_else() -> None:
    for v in [True, False, None, "3600", 3600.0, [3600]]:
        for setter, code in [("license_duration", 1010), ("rental_duration", 1049), ("playback_duration", 1050), ("max_stream_per_user", 1053)]:
            with pytest.raises(pc.PallyConTokenException) as e:
                getattr(pc.PlaybackPolicy(), setter)(v)
            assert e.value.code == code
    # Big ints pass the SDK's isinstance check and are written as json.dumps does.
    big = 2**70
    p = pc.PlaybackPolicy().license_duration(big)
    assert p.to_json_str() == '{"license_duration": %d}' % big
    assert p.get_license_duration() == big


def _client(**over: Any) -> Any:
    fields = dict(site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY, user_id="u", cid="c")
    fields.update(over)
    c = pc.Token().widevine()
    for k, v in fields.items():
        c = getattr(c, k)(v)
    return c.policy(pc.Policy())


@pytest.mark.parametrize(
    "field,value,code,detail",
    [
        ("site_key", SITE_KEY + "x", 1004, "got 33"),
        ("site_key", SITE_KEY[:16], 1004, "got 16"),
        ("site_key", "é" * 32, 1004, "got 64"),
        ("site_key", b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC", 1004, "string"),
        ("site_key", 12345, 1004, "string"),
        ("site_key", None, 1004, "Required"),
        ("access_key", ACCESS_KEY + "x", 1003, "got 33"),
        ("access_key", "", 1003, "got 0"),
        ("access_key", None, 1003, "Required"),
        ("access_key", ["x"], 1003, "string"),
        ("site_id", "TÜTO", 1002, "uppercase"),
        ("site_id", "tuto", 1002, "uppercase"),
        ("site_id", "TUTOR", 1002, "uppercase"),
        ("site_id", None, 1002, "Required"),
        ("site_id", 1234, 1002, "string"),
        ("user_id", None, 1000, "Required"),
        ("user_id", 42, 1000, "string"),
        ("user_id", "\ud800", 1000, "Unicode"),
        ("cid", None, 1001, "Required"),
        ("cid", b"bytes", 1001, "string"),
        ("cid", "x\udfffy", 1001, "Unicode"),
    ],
)
def test_bad_credentials_and_ids(field: str, value: Any, code: int, detail: str) -> None:
    with pytest.raises(pc.PallyConTokenException) as e:
        _client(**{field: value}).execute()
    assert e.value.code == code
    assert detail in e.value.error_message


def test_non_ascii_ids_are_fine_where_the_sdk_allows_them() -> None:
    tok = _client(user_id="사용자 😀", cid="콘텐츠/ä\n\"q\"").timestamp("2021-11-11T07:28:41Z").execute()
    v = keyward.verify(tok, site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY, now="2021-11-11T07:28:41Z")
    assert (v["user_id"], v["cid"]) == ("사용자 😀", "콘텐츠/ä\n\"q\"")


def test_invalid_enums() -> None:
    for call, code in [
        (lambda: pc.Widevine().required_cgms_flags("copy_never"), 1024),
        (lambda: pc.Widevine().hdcp_srm_rule(""), 1026),
        (lambda: pc.Playready().digital_audio_protection_level(True), 1030),
        (lambda: pc.Fairplay().hdcp_enforcement(-2), 1033),
        (lambda: pc.SecurityPolicy().track_type("all"), 1013),
        (lambda: pc.Token().response_format("json"), 1048),
        (lambda: pc.Token().drm_type("Netflix"), 1090),
        (lambda: pc.Token().timestamp("2021-02-30T00:00:00Z"), 1091),
        (lambda: pc.Token().timestamp("yesterday"), 1091),
    ]:
        with pytest.raises(pc.PallyConTokenException) as e:
            call()
        assert e.value.code == code


def test_python_quirks_are_kept() -> None:
    """What the SDK's checks let through, written as json.dumps writes it."""
    w = pc.Widevine().security_level(True)
    assert w.to_json_str() == '{"security_level": true}'
    assert pc.Playready().security_level(3000.0).to_json_str() == '{"security_level": 3000.0}'
    assert pc.Fairplay().hdcp_enforcement(-0.0).to_json_str() == '{"hdcp_enforcement": -0.0}'
    assert pc.SecurityPolicyNcg().control_hdcp(False).to_json_str() == '{"control_hdcp": false}'
    # re.match(...$) accepts one trailing newline, and the SDK keeps it.
    assert pc.MpegCenc("HD", HEX32 + "\n", HEX32B).key_id == HEX32 + "\n"
    with pytest.raises(pc.PallyConTokenException):
        pc.MpegCenc("HD", HEX32 + "\n\n", HEX32B)
    assert pc.PlaybackPolicy().expire_date("2024-19-59T29:59:59Z").get_expire_date() == "2024-19-59T29:59:59Z"
    assert pc.PlaybackPolicy().license_duration(-5).to_json_str() == '{"license_duration": -5}'
    # IntEnum values are written as their numbers, as json.dumps does.
    import enum

    class Level(enum.IntEnum):
        L1 = 1

    assert pc.Widevine().security_level(Level.L1).to_json_str() == '{"security_level": 1}'
    # DoveRunner's WisePlay setters accept any int (bools included).
    assert dr.Wiseplay().security_level(True).output_control(7).to_json_str() == '{"security_level": true, "output_control": 7}'
    assert dr.PlaybackPolicy().renewal_duration("\ud800").to_json_str() == '{"renewal_duration": "\\ud800"}'


def test_snapshot_semantics() -> None:
    """Attaching a section copies it, as the SDK's dict() does."""
    wv = pc.Widevine().security_level(1)
    sec = pc.SecurityPolicy().widevine(wv)
    wv.security_level(5)
    assert sec.get_widevine() == {"security_level": 1}
    pb = pc.PlaybackPolicy().persistent(True)
    pol = pc.Policy().playback(pb)
    before = pol.to_json_str()
    pb.persistent(False)
    assert pol.to_json_str() == before
    c = pc.Token().policy(pol)
    pol.playback(pc.PlaybackPolicy().license_duration(1))
    assert c.get_policy() == before


def test_dialect_differences() -> None:
    assert pc.Widevine().override_device_revocation(True).to_json_str() == "{}"
    assert dr.Widevine().override_device_revocation(True).to_json_str() == '{"override_device_revocation": true}'
    assert isinstance(dr.Widevine(), pc.SecurityPolicyWidevine)
    with pytest.raises(ValueError):
        pc.Token(dialect="netflix")
    assert pc.Token(dialect="pallycon-unified").dialect == "pallycon-unified"
    assert dr.Token().dialect == "doverunner"


def test_no_panic_on_reentrant_or_odd_use() -> None:
    p = pc.Policy()
    for bad in [p, pc.Policy, pc.SecurityPolicy, [pc.SecurityPolicy(), None], (pc.SecurityPolicy(),)]:
        with pytest.raises(pc.PallyConTokenException):
            p.security(bad)
    with pytest.raises(pc.PallyConTokenException):
        pc.ExternalKey().mpeg_cenc([pc.MpegCenc("HD", HEX32, HEX32B), pc.HlsAes("HD", HEX32, HEX32B, HEX32)])
    with pytest.raises(TypeError):
        pc.Widevine().security_level()
    with pytest.raises(pc.PallyConTokenException):
        keyward.mint({"policy_version": 2, "x": object()}, site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY, user_id="u", cid="c")
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(pc.PallyConTokenException):
        keyward.mint({"policy_version": 2, "deep": deep}, site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY, user_id="u", cid="c")
    assert isinstance(pc.Ncg(), pc.SecurityPolicyNcg)
    assert isinstance(pc.Ncg("ALL", HEX64), pc.ExternalKeyNcg)
    assert isinstance(pc.Ncg("ALL", HEX64), pc.Ncg)
