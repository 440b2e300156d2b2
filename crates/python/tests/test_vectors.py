"""Every record of both Python-SDK vector files, through keyward's builders.

Valid records: the builder calls the record describes (see vector_calls.py)
give the recorded policy JSON, token JSON, hash and token, byte for byte, and
the same policy given as a plain dict gives the same bytes too. Error records:
the described call raises the SDK exception with the recorded code, message
and text. Records keyward handles differently on purpose are listed in
DIFFERENT with the reason and checked for what keyward does instead.
"""

import base64
import json
from collections import OrderedDict
from typing import Any, Dict

import pytest

import keyward
import keyward.doverunner as dr
import keyward.pallycon as pc
from conftest import ACCESS_KEY, RECORDS, SITE_KEY, record_id
from vector_calls import (
    NOT_BUILDER,
    client_for,
    decoded_policy,
    dialect_for,
    error_call,
    expected_code,
    ns_for,
    policy_for,
)

VALID = [r for r in RECORDS if "expected" in r]
ERRORS = [r for r in RECORDS if "expected_error" in r]

#: Records keyward deliberately treats differently, and why.
DIFFERENT = {
    "quirk_site_key_16_chars_aes128": "a 16-character site key makes pycryptodome use AES-128; keyward requires "
    "the console's 32-byte key (AES-256) and raises 1004 (the policy bytes still match)",
    "nonsdk_policy_before_site_key": "the SDK encrypts inside policy() and fails with TypeError when site_key() "
    "comes later; keyward encrypts in execute(), so the call order does not matter",
    "nonsdk_site_key_bad_length": "the SDK fails with pycryptodome's ValueError; keyward raises the SDK's own "
    "codes for bad credentials, in the SDK's order: 1003 for the record's 1-character access key, then 1004 "
    "for the 10-character site key, naming the length",
    "nonsdk_execute_twice": "the SDK's client is single-use (TypeError on a second execute()); keyward's can "
    "execute again",
}


def test_vector_files_are_the_published_ones() -> None:
    assert len(VALID) >= 47
    assert len(ERRORS) >= 48
    assert {r["_file"] for r in RECORDS} == {"pallycon_python_sdk.jsonl", "doverunner_python_sdk_v3.jsonl"}


def _check_token(rec: Dict[str, Any], client: Any) -> None:
    exp = rec["expected"]
    token = client.execute()
    assert client.get_policy() == rec["inputs"]["policy_json"]
    assert client.to_json_str() == exp["token_json"]
    assert client.get_hash() == exp["hash_b64"]
    assert token == exp["token_b64"]


@pytest.mark.parametrize("rec", VALID, ids=record_id)
def test_builder_calls_reproduce_the_token(rec: Dict[str, Any]) -> None:
    name = rec["name"]
    exp = rec["expected"]
    i = rec["inputs"]
    if name in NOT_BUILDER:
        # The policy text itself (a keyward extension of .policy()).
        c = client_for(rec, i["policy_json"])
        token = json.loads(base64.b64decode(c.execute()))
        assert token["policy"] == exp["policy_ciphertext_b64"], NOT_BUILDER[name]
        assert token["hash"] == exp["hash_b64"]
        return
    policy = policy_for(rec)
    assert policy.to_json_str() == i["policy_json"]
    if name in DIFFERENT:
        with pytest.raises(pc.PallyConTokenException) as e:
            client_for(rec, policy).execute()
        assert e.value.error_code == "1004", DIFFERENT[name]
        assert "got 16" in e.value.error_message
        return
    _check_token(rec, client_for(rec, policy))


@pytest.mark.parametrize("rec", [r for r in VALID if r["name"] not in DIFFERENT], ids=record_id)
def test_policy_dict_gives_the_same_bytes(rec: Dict[str, Any]) -> None:
    """The policy as a dict (decoded from the recorded JSON, key order kept)
    is written exactly as json.dumps wrote it."""
    policy = decoded_policy(rec)
    client = client_for(rec, policy)
    if rec["name"] in NOT_BUILDER:
        # Compact JSON decodes and re-encodes with Python's separators.
        assert client.get_policy() == json.dumps(policy)
        return
    _check_token(rec, client)


@pytest.mark.parametrize("rec", [r for r in VALID if r["name"] not in NOT_BUILDER | DIFFERENT.keys()], ids=record_id)
def test_mint_function_gives_the_same_token(rec: Dict[str, Any]) -> None:
    i = rec["inputs"]
    rf = i.get("response_format", "")
    token = keyward.mint(
        policy_for(rec),
        site_id=i["site_id"],
        site_key=i["site_key"],
        access_key=i["access_key"],
        user_id=i["user_id"],
        cid=i["cid"],
        drm_type=i["drm_type"],
        timestamp=i["timestamp"],
        response_format=rf if rf in ("original", "custom", "json") else None,
        key_rotation=i.get("key_rotation"),
        dialect=dialect_for(rec),
    )
    assert token == rec["expected"]["token_b64"]


@pytest.mark.parametrize("rec", ERRORS, ids=record_id)
def test_error_records_raise_the_sdk_code(rec: Dict[str, Any]) -> None:
    name = rec["name"]
    err = rec["expected_error"]
    ns = ns_for(rec)
    if name in DIFFERENT:
        _check_different(rec)
        return
    call = error_call(rec)
    code = expected_code(rec)
    if call is None and code is None:
        pytest.skip(f"{name}: a non-SDK failure ({err.get('message')}) with no keyward equivalent")
    assert call is not None and code is not None, f"{name}: no call for this error record"
    exc_type = dr.DoverunnerTokenException if ns is dr else pc.PallyConTokenException
    with pytest.raises(exc_type) as e:
        call(ns)
    assert e.value.error_code == "%04d" % code
    assert e.value.code == code
    if err.get("sdk_exception") and not rec.get("nondeterministic"):
        assert e.value.error_message == err["message"]
        assert str(e.value) == err["exception_str"]


def _check_different(rec: Dict[str, Any]) -> None:
    name = rec["name"]
    i = rec["inputs"]

    def client(**over: Any) -> Any:
        c = pc.Token().widevine()
        fields = OrderedDict(
            site_id=i["site_id"], site_key=i["site_key"], access_key=i["access_key"], user_id=i["user_id"], cid=i["cid"]
        )
        fields.update(over)
        for k, v in fields.items():
            c = getattr(c, k)(v)
        return c.timestamp(i["timestamp"])

    if name == "nonsdk_policy_before_site_key":
        assert i["site_key"] is None
        with pytest.raises(pc.PallyConTokenException) as e:
            client().policy(pc.Policy()).execute()
        assert e.value.error_code == "1004"
        first = pc.Token().widevine().policy(pc.Policy()).site_id(i["site_id"]).site_key(SITE_KEY)
        first = first.access_key(i["access_key"]).user_id(i["user_id"]).cid(i["cid"]).timestamp(i["timestamp"])
        assert first.execute() == client(site_key=SITE_KEY).policy(pc.Policy()).execute(), DIFFERENT[name]
    elif name == "nonsdk_site_key_bad_length":
        with pytest.raises(pc.PallyConTokenException) as e:
            client().policy(pc.Policy()).execute()
        assert e.value.error_code == "1003", DIFFERENT[name]
        assert "got 1)" in e.value.error_message
        with pytest.raises(pc.PallyConTokenException) as e:
            client(access_key=ACCESS_KEY).policy(pc.Policy()).execute()
        assert e.value.error_code == "1004", DIFFERENT[name]
        assert "got 10)" in e.value.error_message
    elif name == "nonsdk_execute_twice":
        c = client().policy(pc.Policy())
        assert c.execute() == c.execute(), DIFFERENT[name]
    else:
        raise AssertionError(f"{name}: unhandled")


def test_every_difference_is_a_published_record() -> None:
    names = {r["name"] for r in RECORDS}
    assert set(DIFFERENT) <= names
    assert set(NOT_BUILDER) <= names


@pytest.mark.parametrize("rec", [r for r in VALID if r["name"] not in NOT_BUILDER | DIFFERENT.keys()], ids=record_id)
def test_vector_tokens_verify(rec: Dict[str, Any]) -> None:
    """keyward.verify accepts the recorded tokens (judged at their own
    timestamp), except the two quirks keyward's server refuses on purpose."""
    i = rec["inputs"]
    kw = dict(site_id=i["site_id"], site_key=i["site_key"], access_key=i["access_key"], now=i["timestamp"])
    if rec["name"] in ("quirk_expire_date_comma", "quirk_negative_duration"):
        with pytest.raises(keyward.TokenVerifyError) as e:
            keyward.verify(rec["expected"]["token_b64"], **kw)
        assert e.value.code == 7013
        return
    v = keyward.verify(rec["expected"]["token_b64"], **kw)
    assert v["user_id"] == i["user_id"]
    assert v["cid"] == i["cid"]
    assert v["drm_type"] == i["drm_type"]
    assert v["policy_json"] == i["policy_json"]
    assert v["key_rotation"] is bool(i.get("key_rotation", False))
