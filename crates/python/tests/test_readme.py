"""The PallyCon SDK README's own example code (seed 004) runs on keyward,
unchanged except for one added import line.

The README's example uses names it never imports (``Widevine``, ``Ncg``,
``HlsAes``, ``track_type``, ...) and imports the SDK's modules by the bare
names ``pallycon_drm_token_policy`` / ``pallycon_drm_token_client``. The one
line ``from keyward.shim import *`` provides both. Run as written, with its
``'<key_id>'`` placeholders, the SDK itself raises 1052 (not hex) and the
example prints the exception; with the placeholders filled in it raises 1045
(its ``HlsAes`` calls omit the iv that SDK 2.1.0 requires); with the iv added,
as in the SDK's own sample, it mints a token. keyward does exactly that.
"""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import keyward
from conftest import ACCESS_KEY, SITE_KEY

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "testdata" / "seed004" / "readme_example.py.txt"
).read_text(encoding="utf-8")
IMPORT_LINE = "from keyward.shim import *\n"

HEX_KID = "11111111222222223333333344444444"
HEX_KEY = "aaaaaaaabbbbbbbbccccccccdddddddd"
HEX_IV = "0123456789abcdef0123456789abcdef"
HEX_CEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

FILL = {
    "'<key_id>'": repr(HEX_KID),
    "'<key>'": repr(HEX_KEY),
    "'<iv>'": repr(HEX_IV),
    "'<cek>'": repr(HEX_CEK),
    '"<Site ID>"': '"TUTO"',
    '"<Site Key>"': repr(SITE_KEY),
    '"<Access Key>"': repr(ACCESS_KEY),
    '"<Content ID>"': '"bigbuckbunny"',
}

# Test-only epilogue: the README's set_drm_token() keeps its token to itself,
# so the same client calls are repeated to show the token.
EPILOGUE = """
print("POLICY " + policy.to_json_str())
print("TOKEN " + Token().widevine().site_id("TUTO").site_key(%r).access_key(%r)
      .user_id("tester-user").cid("bigbuckbunny").policy(policy)
      .response_format(response_format.ORIGINAL).execute())
""" % (SITE_KEY, ACCESS_KEY)


def run(code: str, tmp_path: Path) -> str:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def fill(code: str) -> str:
    for k, v in FILL.items():
        code = code.replace(k, v)
    return code


def add_hls_iv(code: str) -> str:
    # HlsAes(track, '<key_id>', '<key>') -> HlsAes(track, '<key_id>', '<key>', '<iv>')
    out, n = re.subn(r"(HlsAes\([^)]*'<key>')\)", r"\1, '<iv>')", code)
    assert n == 4
    return out


def sdk_error(code: str, message: str) -> str:
    return "YOU'VE GOT THE ERROR ||||| " + json.dumps({"error_code": code, "error_message": message}) + "\n"


def test_readme_example_as_written(tmp_path: Path) -> None:
    assert "import keyward" not in EXAMPLE and "keyward" not in EXAMPLE.split("\n\n", 1)[1]
    out = run(IMPORT_LINE + EXAMPLE, tmp_path)
    assert out == sdk_error("1052", "ExternalKeyHlsAes : The key_id should be 16byte hex String")


def test_readme_example_with_values_filled_in(tmp_path: Path) -> None:
    out = run(IMPORT_LINE + fill(EXAMPLE), tmp_path)
    assert out == sdk_error("1045", "ExternalKeyHlsAes : The iv should be 16byte hex String")


def expected_policy_json() -> str:
    """What the SDK's json.dumps writes for the README's policy."""
    mpeg = [{"track_type": t, "key_id": HEX_KID, "key": HEX_KEY, "iv": HEX_IV} for t in ("HD", "UHD1", "UHD2")]
    hls = [{"track_type": t, "key_id": HEX_KID, "key": HEX_KEY, "iv": HEX_IV} for t in ("SD", "HD", "UHD1", "UHD2")]
    return json.dumps(
        {
            "policy_version": 2,
            "playback_policy": {"persistent": False, "allowed_track_types": "SD_ONLY"},
            "security_policy": [
                {
                    "track_type": "ALL",
                    # override_device_revocation(False): accepted, never written by 2.1.0.
                    "widevine": {"security_level": 1, "required_hdcp_version": "HDCP_NONE", "required_cgms_flags": "CGMS_NONE"},
                    "playready": {
                        "security_level": 150,
                        "digital_video_protection_level": 100,
                        "analog_video_protection_level": 100,
                        "digital_audio_protection_level": 100,
                    },
                    "fairplay": {"hdcp_enforcement": -1, "allow_airplay": True, "allow_av_adapter": True},
                    "ncg": {"allow_mobile_abnormal_device": True, "allow_external_display": True, "control_hdcp": 0},
                }
            ],
            "external_policy": {"mpeg_cenc": mpeg, "hls_aes": hls, "ncg": {"track_type": "ALL_VIDEO", "cek": HEX_CEK}},
        }
    )


def _check_minted(out: str) -> None:
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["POLICY"] == expected_policy_json()
    token = lines["TOKEN"]
    v = keyward.verify(token, site_id="TUTO", site_key=SITE_KEY, access_key=ACCESS_KEY)
    assert v["policy_json"] == expected_policy_json()
    assert v["drm_type"] == "Widevine"
    body = json.loads(base64.b64decode(token))
    assert list(body) == ["drm_type", "site_id", "user_id", "cid", "policy", "response_format", "timestamp", "hash"]


def test_readme_example_mints_with_the_iv_its_sample_passes(tmp_path: Path) -> None:
    out = run(IMPORT_LINE + fill(add_hls_iv(EXAMPLE)) + EPILOGUE, tmp_path)
    _check_minted(out)


def test_readme_example_with_keyward_import_paths(tmp_path: Path) -> None:
    """The other migration: prefix the SDK's module paths with ``keyward.``
    and star-import the names the README leaves unimported."""
    code = fill(add_hls_iv(EXAMPLE))
    code = code.replace("from pallycon_drm_token_", "from keyward.pallycon_drm_token_")
    code = code.replace("from pallycon.config", "from keyward.pallycon.config")
    out = run("from keyward.pallycon import *\n" + code + EPILOGUE, tmp_path)
    _check_minted(out)


def test_shim_serves_the_sdks_module_paths(tmp_path: Path) -> None:
    """Code written for the SDKs imports their modules unchanged after the shim."""
    code = IMPORT_LINE + """
from pallycon.token.pallycon_drm_token_client import PallyConDrmTokenClient
from pallycon.token.v2.security_policy_widevine import SecurityPolicyWidevine as W
from pallycon.token.v2.external_key_hls_aes import ExternalKeyHlsAes
from pallycon.config.widevine import security_level
from pallycon.exception.pallycon_token_exception import PallyConTokenException as E
from doverunner.token.doverunner_drm_token_client import DoverunnerDrmTokenClient
from doverunner.token.v2.security_policy_wiseplay import SecurityPolicyWiseplay
from doverunner.config.wiseplay import wiseplay_output_control
from doverunner.exception.doverunner_token_exception import DoverunnerTokenException
import keyward
assert PallyConDrmTokenClient is keyward.PallyConDrmTokenClient
assert W().security_level(security_level.HW_SECURE_ALL).to_json_str() == '{"security_level": 5}'
assert DoverunnerDrmTokenClient().dialect == "doverunner"
assert SecurityPolicyWiseplay().output_control(wiseplay_output_control.HDCP_V2_2).to_json_str() == '{"output_control": 2}'
try:
    ExternalKeyHlsAes("SD", "x", "y", "z")
except E as e:
    print(e.error_code)
try:
    SecurityPolicyWiseplay().security_level("1")
except DoverunnerTokenException as e:
    print(e.error_code)
"""
    assert run(code, tmp_path) == "1052\n1060\n"
