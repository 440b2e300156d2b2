"""Tokens minted in Python verify in keyward itself: ``keyward token
inspect`` (the CLI) and a running ``keyward serve`` answering a ClearKey
licence request over HTTP.

The CLI binary comes from crates/cli (``cargo build -p keyward``); these
tests skip, saying so, only when no binary can be found
(scripts/python-test.sh builds it first).
"""

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import keyward
import keyward.doverunner as dr
import keyward.pallycon as pc
from conftest import ACCESS_KEY, RECORDS, SITE_KEY

KID = bytes.fromhex("abba271e8bcf552bbd2e86a434a9a5d9")
KEY = bytes.fromhex("69eaa802a6763af979e8d2073d7a7f1e")
CID = "python-roundtrip"


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def cli(bin: Path, args: List[str], **kw: Any) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, KEYWARD_LOG="warn")
    env.pop("KEYWARD_SITE_KEY", None)
    env.pop("KEYWARD_ACCESS_KEY", None)
    return subprocess.run([str(bin)] + args, capture_output=True, text=True, timeout=60, env=env, **kw)


def inspect(bin: Path, token: str, now: str, site_key: str = SITE_KEY, access_key: str = ACCESS_KEY) -> Dict[str, Any]:
    out = cli(bin, ["token", "inspect", token, "--site-key", site_key, "--access-key", access_key, "--now", now, "--json"])
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def test_inspect_verifies_python_tokens(keyward_bin: Path) -> None:
    now = "2021-11-11T07:30:00Z"
    policy = (
        pc.Policy()
        .playback(pc.PlaybackPolicy().persistent(True).license_duration(3600).allowed_track_types("SD_HD"))
        .security(pc.SecurityPolicy().track_type("ALL").widevine(pc.Widevine().security_level(1).required_hdcp_version("HDCP_V1")))
        .external(pc.ExternalKey().mpeg_cenc(pc.MpegCenc("HD", "11111111222222223333333344444444", "aaaaaaaabbbbbbbbccccccccdddddddd")))
    )
    client = (
        pc.Token().widevine().site_id("TUTO").site_key(SITE_KEY).access_key(ACCESS_KEY)
        .user_id("사용자 1").cid("bigbuckbunny").policy(policy).timestamp("2021-11-11T07:28:41Z")
    )
    out = inspect(keyward_bin, client.execute(), now)
    assert out["hash_valid"] is True
    assert out["verify"] == {"ok": True, "drm_type": "Widevine"}
    assert out["policy_json"] == json.loads(policy.to_json_str())
    # DoveRunner dialect, key rotation and json response format.
    tok = (
        dr.Token().fairplay().site_id("TUTO").site_key(SITE_KEY).access_key(ACCESS_KEY).user_id("u").cid("c")
        .policy(dr.Policy().playback(dr.PlaybackPolicy().renewal_duration(300))).response_format("json")
        .key_rotation(True).timestamp("2021-11-11T07:28:41Z").execute()
    )
    out = inspect(keyward_bin, tok, now)
    assert out["verify"]["ok"] is True
    # A wrong access key is caught.
    out = inspect(keyward_bin, client.execute(), now, access_key="X" * 32)
    assert out["hash_valid"] is False and out["verify"]["ok"] is False
    assert out["verify"]["error_code"] == "7019"


def test_inspect_verifies_every_vector_token_rebuilt_in_python(keyward_bin: Path) -> None:
    from vector_calls import NOT_BUILDER, client_for, policy_for

    checked = 0
    for rec in RECORDS:
        if "expected" not in rec or rec["name"] in NOT_BUILDER or len(rec["inputs"]["site_key"]) != 32:
            continue
        if rec["name"] in ("quirk_expire_date_comma", "quirk_negative_duration"):
            continue  # keyward's server refuses these on purpose (7013): see test_vectors.py
        i = rec["inputs"]
        tok = client_for(rec, policy_for(rec)).execute()
        assert tok == rec["expected"]["token_b64"]
        out = inspect(keyward_bin, tok, i["timestamp"], i["site_key"], i["access_key"])
        assert out["verify"]["ok"] is True, (rec["name"], out)
        checked += 1
    assert checked >= 40


def test_customdata_matches_the_cli(keyward_bin: Path) -> None:
    py = keyward.customdata(site_id="TUTO", site_key=SITE_KEY, user_id="alice", cid="movie-1", drm_type="Widevine", oid="o-1")
    out = cli(keyward_bin, ["customdata", "make", "--site-id", "TUTO", "--site-key", SITE_KEY, "--user-id", "alice",
                            "--cid", "movie-1", "--oid", "o-1", "--drm-type", "Widevine"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(keyward_bin: Path) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="keyward-py-") as tmp:
        data = Path(tmp) / "data"
        out = cli(keyward_bin, ["site", "add", "--data-dir", str(data), "--site-id", "PYTS", "--site-key", SITE_KEY,
                                "--access-key", ACCESS_KEY])
        assert out.returncode == 0, out.stderr
        out = cli(keyward_bin, ["key", "add", "--data-dir", str(data), "--site-id", "PYTS", "--cid", CID,
                                "--kid", KID.hex(), "--key", KEY.hex()])
        assert out.returncode == 0, out.stderr
        port = free_port()
        log = open(Path(tmp) / "serve.log", "w")
        proc = subprocess.Popen(
            [str(keyward_bin), "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir", str(data)],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, KEYWARD_LOG="warn"),
        )
        base = "http://127.0.0.1:%d" % port
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise AssertionError("keyward serve did not start:\n" + (Path(tmp) / "serve.log").read_text())
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def licence(base: str, token: str) -> "tuple[int, str]":
    body = json.dumps({"kids": [b64url(KID)], "type": "temporary"}).encode()
    req = urllib.request.Request(
        base + "/ri/clearkey/licenseManager.do",
        data=body,
        method="POST",
        headers={"pallycon-customdata-v2": token, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def clearkey_token(ns: Any = pc, **over: Any) -> str:
    c = ns.Token().clearkey().site_id("PYTS").site_key(SITE_KEY).access_key(ACCESS_KEY).user_id("py-user").cid(CID)
    for k, v in over.items():
        c = getattr(c, k)(v)
    return c.policy(ns.Policy().playback(ns.PlaybackPolicy().persistent(False))).execute()


def test_serve_issues_a_clearkey_licence_for_a_python_token(server: str) -> None:
    status, text = licence(server, clearkey_token())
    assert status == 200, text
    assert json.loads(text) == {"keys": [{"kty": "oct", "kid": b64url(KID), "k": b64url(KEY)}], "type": "temporary"}
    # The DoveRunner dialect and the plain mint function too.
    status, text = licence(server, clearkey_token(dr))
    assert status == 200, text
    tok = keyward.mint({"policy_version": 2}, site_id="PYTS", site_key=SITE_KEY, access_key=ACCESS_KEY,
                       user_id="py-user", cid=CID, drm_type="ClearKey")
    status, text = licence(server, tok)
    assert status == 200, text
    assert json.loads(text)["keys"][0]["k"] == b64url(KEY)


def test_serve_refuses_a_tampered_python_token(server: str) -> None:
    tok = clearkey_token()
    body = json.loads(base64.b64decode(tok))
    body["cid"] = "another-cid"
    forged = base64.b64encode(json.dumps(body).encode()).decode()
    status, text = licence(server, forged)
    assert status != 200 or "7019" in text, text
    assert "keys" not in text
