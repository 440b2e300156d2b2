#!/usr/bin/env python3
"""(Re)builds fuzz/seeds/<target>/ from the repository's test data.

Plain Python 3, standard library only. Run from anywhere:

    python3 fuzz/make-seeds.py

Every seed folder is emptied and rewritten, so the output is a pure function
of the sources read here:

* testdata/vectors/*.jsonl            PallyCon/DoveRunner tokens, token JSON,
                                      policy JSON, CPIX KIDs, keys and PSSH boxes
* testdata/fixtures/fairplay-ksm/     FairPlay SPCs
* crates/token/tests/vectors/*.json   Studio tokens and policies, the
                                      ExpressPlay token, payload and query
* crates/server/tests/expressplay.rs  ExpressPlay query fragments
* crates/server/tests/admin.rs         admin JSON bodies
* the request shapes of crates/server/tests (written out below) for the two
  router targets, with placeholders (@CK@, @STUDIO@, @EP@, @APIKEY@, ...)
  that fuzz/src/entry.rs replaces with credentials valid at run time.

Crash reproducers do not belong here (this script deletes them): see
fuzz/regressions/README.md.
"""

import base64
import hashlib
import json
import subprocess
import re
import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
MAX_SEED = 64 * 1024

# Kept in step with fuzz/src/entry.rs.
ADMIN = "fuzz-admin-token-0123456789"
EP_AUTH = "acme-test-authenticator-00000001"
KID_ALL = bytes([0x11] * 16)

out: dict[str, dict[str, bytes]] = {}


def seed(target: str, name: str, data) -> None:
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        sys.exit(f"{target}/{name}: {len(data)} bytes, over {MAX_SEED}")
    files = out.setdefault(target, {})
    if data in files.values():
        return
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80]
    files[f"{len(files):03d}-{safe}"] = data


def jsonl(name: str) -> list:
    with open(ROOT / "testdata" / "vectors" / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# --- protobuf, as crates/server/tests/common::pb ------------------------------


def varint(v: int) -> bytes:
    o = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v == 0:
            o.append(b)
            return bytes(o)
        o.append(b | 0x80)


def pb_varint(field: int, v: int) -> bytes:
    return varint(field << 3) + varint(v)


def pb_bytes(field: int, b: bytes) -> bytes:
    return varint((field << 3) | 2) + varint(len(b)) + b


def pssh_data(box: bytes) -> bytes:
    """The data of a pssh box (v0 or v1)."""
    version = box[8]
    at = 12 + 16
    if version == 1:
        (n,) = struct.unpack(">I", box[at : at + 4])
        at += 4 + 16 * n
    (size,) = struct.unpack(">I", box[at : at + 4])
    return box[at + 4 : at + 4 + size]


def widevine_challenge(wv_pssh_data: bytes, license_type: int = 1) -> bytes:
    wpd = pb_bytes(1, wv_pssh_data) + pb_varint(2, license_type)
    ci = pb_bytes(1, wpd)
    lr = pb_bytes(1, b"\x08\x01\x12\x05token") + pb_bytes(2, ci) + pb_varint(3, 1)
    return pb_varint(1, 1) + pb_bytes(2, lr) + pb_bytes(3, bytes([0xAA] * 32))


def wv_pssh_data_for(kids: list) -> bytes:
    return b"".join(pb_bytes(2, k) for k in kids)


def playready_soap(wrmheader: str, custom_data) -> str:
    cd = f"<CustomData>{custom_data}</CustomData>" if custom_data is not None else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><AcquireLicense xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols"><challenge>'
        '<Challenge xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols/messages">'
        '<LA xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols" Id="SignedData" xml:space="preserve">'
        f"<Version>1</Version><ContentHeader>{wrmheader}</ContentHeader>{cd}</LA></Challenge></challenge>"
        "</AcquireLicense></soap:Body></soap:Envelope>"
    )


def ck_body(kids: list, session) -> str:
    ks = ",".join(f'"{b64url(k)}"' for k in kids)
    if session is None:
        return f'{{"kids":[{ks}]}}'
    return f'{{"kids":[{ks}],"type":"{session}"}}'


def request(method: str, target: str, headers=(), body=b"") -> bytes:
    head = f"{method} {target}\n" + "".join(f"{k}: {v}\n" for k, v in headers) + "\n"
    return head.encode() + (body.encode() if isinstance(body, str) else body)


# --- sources --------------------------------------------------------------------

sdk = jsonl("pallycon_python_sdk.jsonl") + jsonl("doverunner_python_sdk_v3.jsonl")
cpix = jsonl("pallycon_kms_cpix_examples.jsonl")
studio_vectors = json.loads((ROOT / "crates/token/tests/vectors/studio.json").read_text())
ep_vector = json.loads((ROOT / "crates/token/tests/vectors/expressplay.json").read_text())
spcs = sorted((ROOT / "testdata/fixtures/fairplay-ksm").glob("FPS*/spc*.bin"))

cpix_kids = [bytes.fromhex(r["inputs"]["kid_hex"]) for r in cpix]
wv_boxes = [base64.b64decode(r["expected"]["widevine_pssh_b64"]) for r in cpix]
pr_boxes = [base64.b64decode(r["expected"]["playready_pssh_b64"]) for r in cpix]
wrmheaders = [r["expected"]["playready_wrmheader"] for r in cpix]

# --- DRM ------------------------------------------------------------------------

t = "drm_clearkey_message"
seed(t, "request-temporary", ck_body([KID_ALL], "temporary"))
seed(t, "request-persistent", ck_body(cpix_kids[:2], "persistent-license"))
seed(t, "release", ck_body(cpix_kids, None))
seed(t, "request-cpix-kids", ck_body(cpix_kids, "temporary"))
seed(t, "duplicate-kids", ck_body([KID_ALL, KID_ALL], "temporary"))
seed(t, "kid-padded-std-b64", '{"kids":["%s"],"type":"temporary"}' % base64.b64encode(KID_ALL).decode())
seed(t, "empty-kids", '{"kids":[],"type":"temporary"}')
seed(t, "unknown-type", ck_body([KID_ALL], "streaming"))
seed(t, "kids-not-array", '{"kids":"ERERERERERERERERERERERE","type":"temporary"}')
seed(t, "extra-members", '{"kids":["ERERERERERERERERERERERE"],"type":"temporary","x":{"y":[1,2.5e3,null,true]}}')

t = "drm_fairplay_body"
for p in spcs:
    raw = p.read_bytes()
    seed(t, f"{p.parent.name}-{p.stem}-raw", raw)
for p in spcs[:3]:
    raw = p.read_bytes()
    b = base64.b64encode(raw).decode()
    seed(t, f"{p.parent.name}-{p.stem}-form", "spc=" + b.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))
    seed(t, f"{p.parent.name}-{p.stem}-json", json.dumps({"spc": b, "assetId": "movie-1"}))
    seed(t, f"{p.parent.name}-{p.stem}-bare-b64", b)
seed(t, "json-no-spc", '{"assetId":"movie-1"}')
seed(t, "apple-json", json.dumps({"fairplay-streaming-request": {"version": 1, "create-ckc": [{"id": 1, "spc": base64.b64encode(spcs[0].read_bytes()).decode()}]}}))

# The decrypted payloads (TLLVs) of the SDK SPCs, opened with the SDK development
# key by OpenSSL (RSA-OAEP, then AES-128-CBC without padding).
t = "drm_fairplay_ksm"
dev_key = ROOT / "testdata/fixtures/fairplay-ksm/Development Credentials/dev_private_key.pem"
for p in spcs:
    raw = p.read_bytes()
    spc_key = subprocess.run(
        ["openssl", "pkeyutl", "-decrypt", "-inkey", str(dev_key), "-pkeyopt", "rsa_padding_mode:oaep"],
        input=raw[24:152], capture_output=True, check=True).stdout
    payload = subprocess.run(
        ["openssl", "enc", "-d", "-aes-128-cbc", "-nopad", "-K", spc_key.hex(), "-iv", raw[8:24].hex()],
        input=raw[176:], capture_output=True, check=True).stdout
    seed(t, f"{p.parent.name}-{p.stem}-payload", payload)

t = "drm_playready_challenge"
for i, h in enumerate(wrmheaders):
    seed(t, f"cpix-{i}-with-customdata", playready_soap(h, "token&amp;more"))
    seed(t, f"cpix-{i}-no-customdata", playready_soap(h, None))
seed(t, "kid-4.0", playready_soap(
    '<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA>'
    "<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>HhEREREREREREREREREREQ==</KID></DATA></WRMHEADER>",
    "@CK@"))
seed(t, "cdata-customdata", playready_soap("<WRMHEADER version=\"4.3.0.0\"><DATA><KIDS><KID VALUE=\"HhEREREREREREREREREREQ==\"/></KIDS></DATA></WRMHEADER>", "<![CDATA[abc]]>"))

t = "drm_playready_object"
for i, box in enumerate(pr_boxes):
    seed(t, f"cpix-{i}-pro", pssh_data(box))
for i, h in enumerate(wrmheaders[:2]):
    seed(t, f"cpix-{i}-wrmheader-xml", h)

t = "drm_pssh_boxes"
for i, box in enumerate(wv_boxes):
    seed(t, f"cpix-{i}-widevine", box)
for i, box in enumerate(pr_boxes):
    seed(t, f"cpix-{i}-playready", box)
seed(t, "widevine-then-playready", wv_boxes[0] + pr_boxes[0])
seed(t, "v1-common-two-kids",
     struct.pack(">I", 12 + 16 + 4 + 32 + 4) + b"pssh" + b"\x01\x00\x00\x00"
     + bytes.fromhex("1077efecc0b24d02ace33c1e52e2fb4b") + struct.pack(">I", 2) + cpix_kids[0] + cpix_kids[1]
     + struct.pack(">I", 0))

t = "drm_widevine_pssh_data"
for i, box in enumerate(wv_boxes):
    seed(t, f"cpix-{i}", pssh_data(box))
seed(t, "one-kid", wv_pssh_data_for([KID_ALL]))

t = "drm_widevine_challenge"
for i, box in enumerate(wv_boxes):
    seed(t, f"cpix-{i}-streaming", widevine_challenge(pssh_data(box)))
seed(t, "one-kid-offline", widevine_challenge(wv_pssh_data_for([KID_ALL]), 2))
seed(t, "service-certificate-request", b"\x08\x04")

# --- PallyCon tokens, policies, customdata ----------------------------------------

with_tokens = [r for r in sdk if r.get("expected")]
t = "token_pallycon"
for r in with_tokens:
    if len(out.get(t, {})) >= 40:
        break
    seed(t, f"{r['name']}-b64", r["expected"]["token_b64"])
    seed(t, f"{r['name']}-json", r["expected"]["token_json"])
seed(t, "escapes-and-unknown-member",
     with_tokens[0]["expected"]["token_json"].replace('"user_id":"test-user"', '"user_id":"test\\u002duser","x":[1,{"y":null}]'))

t = "token_policy"
for r in sdk:
    p = r["inputs"].get("policy_json")
    if p:
        seed(t, r["name"], p)
    if len(out.get(t, {})) >= 45:
        break
seed(t, "v1-policy", '{"playback_policy":{"limit":true,"persistent":false,"duration":3600}}')
seed(t, "uppercase-key-hex",
     '{"policy_version":2,"external_key":{"mpeg_cenc":[{"track_type":"ALL","key_id":"1111111111111111111111111111111A",'
     '"key":"A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1"}]}}')

t = "token_customdata"
for r in with_tokens[:8]:
    seed(t, f"v2-token-{r['name']}", r["expected"]["token_b64"])
for r in with_tokens[:3]:
    c = r["expected"]["policy_ciphertext_b64"]
    seed(t, f"v2-authdata-{r['name']}",
         base64.b64encode(json.dumps({"drm_type": r["inputs"]["drm_type"], "site_id": "TUTO", "data": c}).encode()).decode())
    seed(t, f"v1-W-{r['name']}", "WTUTO" + c)
seed(t, "v1-P", "PTUTO" + with_tokens[0]["expected"]["policy_ciphertext_b64"])
seed(t, "v1-F-short", "FTUT")
seed(t, "v2-authdata-no-drm", base64.b64encode(b'{"site_id":"TUTO","data":"AAAA"}').decode())
seed(t, "inner-auth-json", '{"user_id":"user-1","cid":"bigbuckbunny","oid":"order-7","content_type":"live"}')
seed(t, "inner-auth-json-minimal", '{"user_id":"u","cid":"c"}')
seed(t, "inner-auth-json-null-oid", '{"user_id":"u","cid":"c","oid":null}')

# --- Studio -------------------------------------------------------------------------

t = "token_studio"
for v in studio_vectors:
    seed(t, f"token-{v['name']}", v["token"])
    seed(t, f"policy-{v['name']}", v["policy"])
seed(t, "wrong-version", studio_vectors[0]["token"].replace("|v2|", "|v3|"))

t = "token_studio_policy"
for v in studio_vectors:
    seed(t, v["name"], v["policy"])
seed(t, "fairplay-lease", '{"content_id":"m","fairplay":{"license_type":"l","lease_duration_seconds":60}}')
seed(t, "dates", '{"content_id":"m","begin_datetime":"2025-03-01T12:00:00Z","end_datetime":"2025-03-02T12:00:00+01:00"}')
seed(t, "session-get", '{"session":{"id":"s","method":"GET","url":"http://cb.example/s?a=1"}}')
seed(t, "alpha2-countries", '{"geo_restrictions":{"country_code_whitelist":["US","gb"]}}')

# --- ExpressPlay ---------------------------------------------------------------------

t = "token_expressplay_params"
base = f"customerAuthenticator={EP_AUTH}&" + ep_vector["query"]
seed(t, "vector-query", base)
seed(t, "vector-query-and-body", f"customerAuthenticator={EP_AUTH}&errorFormat=json\n" + ep_vector["query"])
src = (ROOT / "crates/server/tests/expressplay.rs").read_text()
frags = []
for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', src):
    lit = lit.replace("{AUTH}", EP_AUTH)
    if "=" not in lit or "{" in lit or " " in lit or lit.startswith(("/", "http", "<")):
        continue
    if not re.fullmatch(r"[A-Za-z0-9._%&=+,:\-^]*", lit):
        continue
    frags.append(lit)
for f in frags:
    seed(t, f[:60], f if f.startswith("customerAuthenticator") else base + "&" + f)
seed(t, "kid-name", f"customerAuthenticator={EP_AUTH}&kid=%5Eep-label&securityLevel=1&hdcpOutputControl=0")
seed(t, "broken-name", "customerAuthenticator=a&%ZZ=1")

t = "token_expressplay_sealed"
seed(t, "vector-token", ep_vector["token"])
seed(t, "vector-payload-json", ep_vector["payload_json"])
seed(t, "payload-key-name", '{"c":"acme","e":"prod","d":"wv","n":"ep-label","s":1,"h":0,"t":1700000000,"x":1700003600,'
     '"r":{"periodEndTime":1700003600,"playDuration":600}}')

# --- Shared vocabulary ----------------------------------------------------------------

t = "types_ids"
for r in cpix[:2]:
    seed(t, "kid-hex", r["inputs"]["kid_hex"])
    seed(t, "kid-uuid", r["inputs"]["kid_uuid"])
    seed(t, "kid-b64url", b64url(bytes.fromhex(r["inputs"]["kid_hex"])))
    seed(t, "key-b64", r["inputs"]["key_b64"])
    seed(t, "kid-json", json.dumps(r["inputs"]["kid_hex"]))
for s in ["TUTO", "TEST", "test", "ABCDE", "ALL", "ALL_VIDEO", "UHD1", "hd", "Widevine", "playready", "NCG",
          "ClearKey", "2021-11-11T07:28:41Z", "2099-12-31T23:59:59Z", "2024-02-29T24:00:00Z", "original", "json",
          "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"]:
    seed(t, s, s)
seed(t, "kid-raw-16", KID_ALL)

# --- The HTTP application -------------------------------------------------------------

V2 = "pallycon-customdata-v2"
wv_chal = widevine_challenge(wv_pssh_data_for([KID_ALL]))
spc_b64 = base64.b64encode(spcs[0].read_bytes()).decode() if spcs else "AAAA"
pr_body = playready_soap(
    '<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA>'
    "<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>"
    f"<KID>{base64.b64encode(KID_ALL).decode()}</KID></DATA></WRMHEADER>", "@PR@")
ck = ck_body([KID_ALL], "temporary")

t = "server_licence"
for name, req in [
    ("ri-clearkey-post", request("POST", "/ri/clearkey/licenseManager.do", [(V2, "@CK@")], ck)),
    ("ri-clearkey-get", request("GET", "/ri/clearkey/licenseManager.do?siteId=TEST&cid=movie-1", [(V2, "@CK@")])),
    ("ri-clearkey-get-multi", request("GET", "/ri/clearkey/licenseManager.do?siteId=TEST&cid=multi-1", [(V2, "@CKMULTI@")])),
    ("ri-clearkey-release", request("POST", "/ri/clearkey/licenseManager.do", [(V2, "@CK@")], ck_body([KID_ALL], None))),
    ("ri-clearkey-http-site", request("POST", "/ri/clearkey/licenseManager.do?siteId=HTTP", [(V2, "@HTTP@")], ck)),
    ("ri-license-query-token", request("POST", "/ri/licenseManager.do?pallycon-customdata-v2=@CKQ@", [], ck)),
    ("ri-license-widevine", request("POST", "/ri/licenseManager.do", [(V2, "@WV@")], wv_chal)),
    ("ri-license-fairplay", request("POST", "/ri/licenseManager.do", [(V2, "@FP@")], "spc=" + spc_b64)),
    ("ri-playready", request("POST", "/ri/playready/licenseManager.do", [("content-type", "text/xml")], pr_body)),
    ("ri-legacy-customdata", request("POST", "/ri/licenseManager.do", [("pallycon-customdata", "WTEST" + "A" * 44)], wv_chal)),
    ("ri-fps-cert", request("GET", "/ri/fpsCert.do?siteId=CERT")),
    ("ri-fps-key-manager", request("GET", "/ri/fpsKeyManager.do?siteId=CERT")),
    ("ri-widevine-cert", request("GET", "/ri/widevineCert.do?siteId=CERT")),
    ("v1-clearkey", request("POST", "/v1/license/clearkey", [(V2, "@CK@")], ck)),
    ("v1-clearkey-bearer", request("POST", "/v1/license/clearkey?cid=movie-1", [("authorization", "Bearer @CK@")], ck)),
    ("v1-clearkey-studio", request("POST", "/v1/license/clearkey", [("x-vudrm-token", "@STUDIO@"),
                                                                    ("x-forwarded-for", "203.0.113.7, 10.0.0.1")], ck)),
    ("v1-clearkey-studio-query", request("POST", "/v1/license/clearkey?token=@STUDIO@", [], ck)),
    ("v1-widevine", request("POST", "/v1/license/widevine", [(V2, "@WV@")], wv_chal)),
    ("v1-playready", request("POST", "/v1/license/playready", [(V2, "@PR@")], pr_body)),
    ("v1-fairplay", request("POST", "/v1/license/fairplay", [(V2, "@FP@")], json.dumps({"spc": spc_b64}))),
    ("v1-ncg", request("POST", "/v1/license/ncg", [(V2, "@NCG@")], ck)),
    ("hls-key", request("GET", "/v1/hls-key/TEST/movie-1", [(V2, "@CK@")])),
    ("hls-key-query", request("GET", "/v1/hls-key/TEST/movie-1?pallycon-customdata-v2=@CKQ@")),
    ("hls-key-track", request("GET", "/v1/hls-key/TEST/multi-1/HD", [(V2, "@CKMULTI@")])),
    ("cors-preflight", request("OPTIONS", "/v1/license/clearkey", [("origin", "https://good.example"),
                                                                  ("access-control-request-method", "POST")])),
    ("hms-ck-token", request("GET", "/hms/ck/token?customerAuthenticator=%s&kid=%s&contentKey=%s&securityLevel=1"
                              "&hdcpOutputControl=0&errorFormat=json" % (EP_AUTH, "11" * 16, "a1" * 16))),
    ("hms-wv-token-post", request("POST", "/hms/wv/token", [("content-type", "application/x-www-form-urlencoded")],
                                  f"customerAuthenticator={EP_AUTH}&" + ep_vector["query"])),
    ("hms-wv-token-query", request("GET", f"/hms/wv/token?customerAuthenticator={EP_AUTH}&" + ep_vector["query"])),
    ("hms-ck-token-name", request("GET", f"/hms/ck/token?customerAuthenticator={EP_AUTH}&kid=%5Eep-label"
                                  "&securityLevel=1&hdcpOutputControl=0")),
    ("hms-ck-rights", request("POST", "/hms/ck/rights/?ExpressPlayToken=@EP@", [], ck)),
    ("hms-ck-rights-noslash", request("POST", "/hms/ck/rights?ExpressPlayToken=@EP@&errorFormat=json", [], ck_body([KID_ALL], None))),
    ("hms-wv-rights", request("POST", "/hms/wv/rights/?ExpressPlayToken=@EPWV@", [], wv_chal)),
]:
    seed(t, name, req)

t = "server_admin"
AUTHZ = ("authorization", f"Bearer {ADMIN}")
JSON = ("content-type", "application/json")
admin_src = (ROOT / "crates/server/tests/admin.rs").read_text()
bodies = []
for lit in re.findall(r'r#"(\{.*?\})"#', admin_src):
    if "{{" in lit:
        continue
    try:
        bodies.append(json.loads(lit))
    except ValueError:
        continue


def admin_target(b: dict) -> tuple:
    if "cid" in b:
        return "POST", "/v1/admin/sites/TEST/keys"
    if "site_id" in b:
        return "POST", "/v1/admin/sites"
    return "PUT", "/v1/admin/sites/TEST"


for b in bodies:
    m, path = admin_target(b)
    seed(t, f"{m}-{path.rsplit('/', 1)[-1]}-{'-'.join(b)}", request(m, path, [AUTHZ, JSON], json.dumps(b)))
for name, req in [
    ("put-key-full", request("POST", "/v1/admin/sites/TEST/keys", [AUTHZ, JSON],
                             json.dumps({"cid": "film", "kid": "33" * 16, "key": "44" * 16, "iv": "55" * 16,
                                         "track_type": "HD", "label": "main", "replace": True}))),
    ("create-client", request("POST", "/v1/admin/clients", [AUTHZ, JSON],
                              json.dumps({"name": "beta", "site_id": "TEST", "label": "backend",
                                          "settings": {"default_policy": json.loads(studio_vectors[-1]["policy"])}}))),
    ("update-client", request("PUT", "/v1/admin/clients/acme", [AUTHZ, JSON], '{"ttl_secs":600,"max_uses":3}')),
    ("client-api-key", request("POST", "/v1/admin/clients/acme/api-keys", [AUTHZ, JSON], '{"label":"second"}')),
    ("client-secret", request("POST", "/v1/admin/clients/acme/secret", [AUTHZ, JSON], "{}")),
    ("create-customer", request("POST", "/v1/admin/customers", [AUTHZ, JSON],
                                '{"customer_id":"newco","settings":{"site_id":"TEST","token_quota":5,"allowed_ips":["10.0.0.1"]}}')),
    ("update-customer", request("PUT", "/v1/admin/customers/acme", [AUTHZ, JSON], '{"disabled":false,"token_quota":null}')),
    ("rotate-customer", request("POST", "/v1/admin/customers/acme/rotate", [AUTHZ, JSON], '{"env":"test"}')),
    ("list-audit", request("GET", "/v1/admin/audit?site=TEST&user=alice&code=ok&since=2024-05-01T00:00:00Z&limit=5", [AUTHZ])),
    ("list-keys", request("GET", "/v1/admin/sites/TEST/keys?cid=movie-1", [AUTHZ])),
    ("put-empty-body", request("PUT", "/v1/admin/customers/acme", [AUTHZ, JSON], "")),
    ("put-array-body", request("PUT", "/v1/admin/sites/TEST", [AUTHZ, JSON], "[]")),
    ("no-auth", request("POST", "/v1/admin/sites", [JSON], '{"site_id":"ABCD"}')),
    # Regression (found by server_admin, fixed in 7557f84): an uncoded 405.
    ("regression-customers-405-uncoded", b"PATCH /v1/admin/customers\nauthorization: Bearer " + ADMIN.encode() + b"\n"),
    ("v2-token", request("POST", "/v2/token", [("x-api-key", "@APIKEY@"), JSON],
                         json.dumps({"clientName": "acme", "policy": {"content_id": "movie-1"}}))),
    ("v2-token-accept-json", request("POST", "/v2/token", [("x-api-key", "@APIKEY@"), JSON, ("accept", "application/json")],
                                     json.dumps({"clientName": "acme", "policy": json.loads(studio_vectors[-1]["policy"])}))),
    ("v2-generate", request("POST", "/v2/generate", [("x-api-key", "@APIKEY@"), JSON],
                            json.dumps({"clientName": "acme", "policy": {"content_id": "m", "offline": True,
                                                                         "rental_duration_seconds": 60}}))),
    ("v2-stats", request("GET", "/v2/stats?from=2025-01-01&to=2025-12-31", [("x-api-key", "@APIKEY@")])),
]:
    seed(t, name, req)

# --- write ------------------------------------------------------------------------------

if SEEDS.exists():
    shutil.rmtree(SEEDS)
total = 0
for target in sorted(out):
    d = SEEDS / target
    d.mkdir(parents=True)
    for name, data in out[target].items():
        (d / name).write_bytes(data)
    total += len(out[target])
    print(f"{target:28} {len(out[target]):3} seeds")
print(f"{'total':28} {total:3}")
digest = hashlib.sha256(b"".join(sorted(b for files in out.values() for b in files.values()))).hexdigest()[:16]
print(f"content digest {digest}")
