"""keyward's own functions: mint / verify over dicts, customdata, the
timestamp forms, and the typed-package plumbing."""

import base64
import datetime
import json
from pathlib import Path

import pytest

import keyward
import keyward.pallycon as pc
from conftest import ACCESS_KEY, SITE_KEY

CREDS = dict(site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY)
TS = "2021-11-11T07:28:41Z"


def body(token: str) -> dict:
    return json.loads(base64.b64decode(token))


def test_mint_dict_is_written_like_json_dumps() -> None:
    policy = {"policy_version": 2, "playback_policy": {"persistent": False, "license_duration": 3600}}
    tok = keyward.mint(policy, user_id="test-user", cid="bigbuckbunny", drm_type="Widevine", timestamp=TS, **CREDS)
    v = keyward.verify(tok, now=TS, **CREDS)
    assert v["policy_json"] == json.dumps(policy)
    assert v["policy"] == policy
    assert list(body(tok)) == ["drm_type", "site_id", "user_id", "cid", "policy", "response_format", "timestamp", "hash"]
    # The seed inputs through the SDK serialization: the recorded SDK token.
    tok = keyward.mint(
        {"policy_version": 2, "playback_policy": {"persistent": False}},
        user_id="test-user", cid="bigbuckbunny", drm_type="Widevine", timestamp=TS, **CREDS,
    )
    assert body(tok)["policy"] == "sX7DEMZ1S2xaMoIt76m+yAv5NJhUD+2xVLkch7yIj4uJQ2TNJivzkXo0wenZPqVZsvgZIPyrzMEwTciBCxyByw=="
    assert body(tok)["hash"] == "Y+JYQhWtMKWGvQ33Uhu5Evkdx2/Uh4TUZrGylfnK1fk="


def test_mint_text_is_encrypted_byte_for_byte() -> None:
    seed = '{"policy_version":2,"playback_policy":{"persistent":false}}'
    tok = keyward.mint(seed, user_id="test-user", cid="bigbuckbunny", drm_type="Widevine", timestamp=TS, **CREDS)
    # The vendor tutorial's ciphertext and hash (seed 000).
    assert body(tok)["policy"] == "sX7DEMZ1S2xaMoIt76m+yDwylZRVJ2Gzs2I1b0+mzL0X9FcJ43aAloqI5noG2iyC57AagPl2jY9mxCL/WqNabQ=="
    assert body(tok)["hash"] == "o6dD1qJbdrQvU86JUxZiKf8WBo0BH6oc+kN8CVNk2rM="
    # keyward-token's own layout gives the tutorial token to the byte.
    tok = keyward.mint(seed, user_id="test-user", cid="bigbuckbunny", drm_type="Widevine", timestamp=TS, dialect="keyward", **CREDS)
    assert tok.startswith("eyJkcm1fdHlwZSI6IldpZGV2aW5lIiwic2l0ZV9pZCI6IlRVVE8i")
    assert list(body(tok))[-2:] == ["response_format", "key_rotation"]


def test_mint_validates_dicts_with_keyward_rules() -> None:
    for bad, code in [
        ({"policy_version": 2, "playback_policy": {"license_duration": -1}}, 1010),
        ({"policy_version": 2, "playback_policy": {"expire_date": "2024-02-30T00:00:00Z"}}, 1011),
        ({"policy_version": 2, "security_policy": [{"widevine": {"security_level": 9}}]}, 1022),
        ("not json", 1005),
        (42, 1005),
    ]:
        with pytest.raises(keyward.PallyConTokenException) as e:
            keyward.mint(bad, user_id="u", cid="c", **CREDS)
        assert e.value.code == code, bad
    # validate=False sends it anyway (as the SDK would have).
    keyward.mint({"policy_version": 2, "playback_policy": {"license_duration": -1}}, user_id="u", cid="c", validate=False, **CREDS)


def test_mint_dialects() -> None:
    kw = dict(user_id="u", cid="c", timestamp=TS, **CREDS)
    assert "key_rotation" not in body(keyward.mint({"policy_version": 2}, **kw))
    b = body(keyward.mint({"policy_version": 2}, key_rotation=True, **kw))
    assert list(b)[5:7] == ["response_format", "key_rotation"] and b["key_rotation"] is True
    for d in ("pallycon-unified", "doverunner"):
        b = body(keyward.mint({"policy_version": 2}, dialect=d, response_format="json", **kw))
        assert b["key_rotation"] is False and b["response_format"] == "json"
    with pytest.raises(keyward.PallyConTokenException) as e:
        keyward.mint({"policy_version": 2}, response_format="json", **kw)
    assert e.value.code == 1048
    with pytest.raises(keyward.PallyConTokenException) as e:
        keyward.mint({"policy_version": 2}, drm_type="netflix", **kw)
    assert e.value.code == 1090
    assert body(keyward.mint({"policy_version": 2}, drm_type="widevine", **kw))["drm_type"] == "Widevine"
    with pytest.raises(ValueError):
        keyward.mint({"policy_version": 2}, dialect="java", **kw)


def test_timestamp_forms() -> None:
    c = lambda: pc.Token().site_id("TUTO").site_key(SITE_KEY).access_key(ACCESS_KEY).user_id("u").cid("c").policy(pc.Policy())  # noqa: E731
    want = c().timestamp(TS).execute()
    dt = datetime.datetime(2021, 11, 11, 7, 28, 41)
    assert c().timestamp(dt).execute() == want
    assert c().timestamp(dt.replace(tzinfo=datetime.timezone.utc)).execute() == want
    plus9 = datetime.timezone(datetime.timedelta(hours=9))
    assert c().timestamp(datetime.datetime(2021, 11, 11, 16, 28, 41, tzinfo=plus9)).execute() == want
    unix = int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())
    assert c().timestamp(unix).execute() == want
    assert c().timestamp(unix + 0.9).execute() == want
    # Default: now.
    now = c().execute()
    v = keyward.verify(now, **CREDS)
    assert abs(v["age_secs"]) <= 5
    cl = c()
    cl.execute()
    assert len(cl.get_time_stamp()) == 20 and cl.get_time_stamp().endswith("Z")


def test_verify_refusals() -> None:
    tok = keyward.mint({"policy_version": 2}, user_id="u", cid="c", timestamp=TS, **CREDS)
    cases = [
        (dict(now="2021-11-11T07:40:00Z"), 7011),
        (dict(now=TS, access_key="A" * 32), 7019),
        (dict(now=TS, site_key="K" * 32), 7016),
    ]
    for over, code in cases:
        kw = dict(CREDS)
        kw.update(over)
        with pytest.raises(keyward.TokenVerifyError) as e:
            keyward.verify(tok, **kw)
        assert e.value.code == code
    with pytest.raises(keyward.TokenVerifyError) as e:
        keyward.verify("not a token!", **CREDS)
    assert e.value.code == 7009
    # A wider window accepts it.
    assert keyward.verify(tok, now="2021-11-11T07:40:00Z", window_secs=3600, **CREDS)["cid"] == "c"


def test_customdata() -> None:
    cd = keyward.customdata(site_id="TUTO", site_key=SITE_KEY, user_id="alice", cid="movie-1", drm_type="Widevine", oid="o-1")
    outer = json.loads(base64.b64decode(cd))
    assert list(outer) == ["drm_type", "site_id", "data"]
    assert outer["drm_type"] == "Widevine" and outer["site_id"] == "TUTO"
    # Deterministic (fixed IV), and the legacy form carries the same data.
    assert cd == keyward.customdata(site_id="TUTO", site_key=SITE_KEY, user_id="alice", cid="movie-1", drm_type="Widevine", oid="o-1")
    legacy = keyward.customdata(site_id="TUTO", site_key=SITE_KEY, user_id="alice", cid="movie-1", drm_type="Widevine", oid="o-1", legacy=True)
    assert legacy == "WTUTO" + outer["data"]
    with pytest.raises(keyward.PallyConTokenException) as e:
        keyward.customdata(site_id="TUTO", site_key="short", user_id="a", cid="b")
    assert e.value.code == 1004


def test_getters_and_dicts_like_the_sdk() -> None:
    pb = pc.PlaybackPolicy().persistent(True).license_duration(60).allowed_track_types("SD_HD")
    assert pb.dict() == {"persistent": True, "license_duration": 60, "allowed_track_types": "SD_HD"}
    assert (pb.get_persistent(), pb.get_license_duration(), pb.get_expire_date()) == (True, 60, None)
    wv = pc.Widevine().security_level(3).required_hdcp_version("HDCP_V1")
    assert (wv.get_security_level(), wv.get_required_hdcp_version()) == (3, "HDCP_V1")
    m = pc.MpegCenc("HD", "11111111222222223333333344444444", "aaaaaaaabbbbbbbbccccccccdddddddd")
    assert (m.track_type, m.iv) == ("HD", None)
    assert m.dict()["iv"] is None
    ext = pc.ExternalKey().mpeg_cenc(m)
    assert ext.check() and not pc.ExternalKey().check()
    pol = pc.Policy().playback(pb).external(ext)
    assert pol.get_playback() == pb.dict()
    assert pol.dict()["external_policy"] == ext.dict()
    assert json.loads(pol.to_json_str()) == pol.dict()
    c = pc.Token().ncg().site_id("TUTO").user_id("u").cid("c").policy(pol)
    assert (c.get_drm_type(), c.get_site_id(), c.get_response_format(), c.to_json_str()) == ("NCG", "TUTO", "original", None)
    assert "PallyConDrmTokenPolicy(" in repr(pol)


def test_config_modules_mirror_the_sdk() -> None:
    from keyward.doverunner.config.common import response_format as dr_rf
    from keyward.doverunner.config.wiseplay import security_level as wp
    from keyward.pallycon.config import fairplay_hdcp_enforcement, response_format, track_type
    from keyward.pallycon.config.playready import security_level
    from keyward.pallycon.config.widevine import required_hdcp_version

    assert track_type.TRACK_TYPE == ("ALL", "ALL_VIDEO", "AUDIO", "SD", "HD", "UHD1", "UHD2")
    assert response_format.check("custom") and not response_format.check("json")
    assert dr_rf.JSON == "json" and dr_rf.check("json")
    assert fairplay_hdcp_enforcement.HDCP_TYPE_2 == 1
    assert security_level.LEVEL_3000 == 3000
    assert required_hdcp_version.HDCP_NO_DIGITAL_OUTPUT == "HDCP_NO_DIGITAL_OUTPUT"
    assert wp.ENHANCED_HW_LEVEL_3 == 3


def test_package_is_typed() -> None:
    root = Path(keyward.__file__).parent
    assert (root / "py.typed").exists()
    assert (root / "_native.pyi").exists()
    assert keyward.__version__


def test_minter_is_mint_with_bound_credentials() -> None:
    m = keyward.Minter("TUTO", SITE_KEY, ACCESS_KEY)
    pol = pc.Policy().playback(pc.PlaybackPolicy().persistent(False))
    want = keyward.mint(pol, user_id="u", cid="c", drm_type="Widevine", timestamp=TS, **CREDS)
    assert m.mint(pol, "u", "c", "Widevine", TS) == want
    assert m.mint(pol, user_id="u", cid="c", drm_type="Widevine", timestamp=TS) == want
    assert m.site_id == "TUTO"
    d = keyward.Minter("TUTO", SITE_KEY, ACCESS_KEY, dialect="doverunner")
    assert body(d.mint({"policy_version": 2}, "u", "c"))["key_rotation"] is False
    with pytest.raises(keyward.PallyConTokenException) as e:
        keyward.Minter("TUTO", SITE_KEY[:-1], ACCESS_KEY)
    assert e.value.code == 1004
    with pytest.raises(keyward.DoverunnerTokenException) as e:
        d.mint({"policy_version": 2}, "u", None)
    assert e.value.code == 1001
