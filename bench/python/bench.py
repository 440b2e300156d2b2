#!/usr/bin/env python3
"""Tokens per second minting PallyCon licence tokens from Python, in one run:

* keyward      -- keyward's package, the SDK-compatible API (``keyward.pallycon``)
* keyward.mint -- keyward's one-call function, with the same policy object
* keyward.Minter.mint -- the same with the credentials bound once
* pure Python  -- bench/python/pure_python_sdk.py: the same steps as the
                  vendor SDK (checked builders, json.dumps, pycryptodome
                  AES-CBC, hashlib SHA-256, base64), written for this bench
* official SDK -- the vendor's PallyCon Python SDK itself, only when
                  PALLYCON_SDK_PATH points at a copy (the directory holding
                  its ``pallycon`` package; it needs pycryptodome; its debug
                  print()s go to /dev/null); skipped otherwise
* Rust         -- keyward._bench_mint_rust: the same mint code as keyward's
                  execute(), looped in Rust (encrypt, hash, token JSON,
                  base64, a fresh timestamp per token) -- the floor

Two policies: "readme", the policy of the SDK README's example (seed 004:
playback + one security entry for all four DRMs + 3 MPEG-CENC, 4 HLS-AES and
an NCG external key; 1.8 KB of JSON), and "tutorial", the vendor tutorial's
``PlaybackPolicy().persistent(False)`` (seed 000). Two flows: "full" builds
the policy objects and the client for every token (as the README's example
does); "client" reuses one policy object and builds only the client.

Before timing, every implementation's token is checked: same policy bytes as
keyward's, and the token verifies with keyward.verify.

Measurement: rounds interleave the implementations (so a busy neighbour
hurts all alike); each sample times N tokens with the GC off; the figure is
the median per-token time over the rounds. Ratios are medians of per-round
ratios.

    python bench/python/bench.py [--rounds 7] [--seconds 0.25] [--json out.json]
"""

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import keyward
import keyward.pallycon as kwp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pure_python_sdk as pp  # noqa: E402

SITE_ID = "TUTO"
SITE_KEY = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC"
ACCESS_KEY = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20"
KID = "11111111222222223333333344444444"
KEY = "aaaaaaaabbbbbbbbccccccccdddddddd"
IV = "0123456789abcdef0123456789abcdef"
CEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


class Impl:
    """The builder classes of one implementation, under common names."""

    def __init__(self, name: str, **classes: Any) -> None:
        self.name = name
        self.__dict__.update(classes)


def keyward_impl() -> Impl:
    return Impl(
        "keyward", Policy=kwp.Policy, PlaybackPolicy=kwp.PlaybackPolicy, SecurityPolicy=kwp.SecurityPolicy,
        Widevine=kwp.Widevine, Playready=kwp.Playready, Fairplay=kwp.Fairplay, NcgSec=kwp.SecurityPolicyNcg,
        ExternalKey=kwp.ExternalKey, MpegCenc=kwp.MpegCenc, HlsAes=kwp.HlsAes, NcgKey=kwp.ExternalKeyNcg, Token=kwp.Token,
    )


def pure_impl() -> Impl:
    return Impl(
        "pure Python", Policy=pp.Policy, PlaybackPolicy=pp.PlaybackPolicy, SecurityPolicy=pp.SecurityPolicy,
        Widevine=pp.Widevine, Playready=pp.Playready, Fairplay=pp.Fairplay, NcgSec=pp.NcgSecurity,
        ExternalKey=pp.ExternalKey, MpegCenc=pp.MpegCenc, HlsAes=pp.HlsAes, NcgKey=pp.NcgKey, Token=pp.Client,
    )


def official_impl() -> Tuple[Optional[Impl], str]:
    path = os.environ.get("PALLYCON_SDK_PATH")
    if not path:
        return None, "PALLYCON_SDK_PATH is not set"
    if not (Path(path) / "pallycon").is_dir():
        return None, f"no pallycon package under PALLYCON_SDK_PATH={path}"
    if "pytz" not in sys.modules:
        try:
            import pytz  # noqa: F401
        except ImportError:
            # The SDK only asks pytz for UTC; the standard library's will do.
            shim = types.ModuleType("pytz")
            shim.timezone = lambda name: __import__("datetime").timezone.utc  # type: ignore[attr-defined]
            sys.modules["pytz"] = shim
    sys.path.insert(0, path)
    try:
        from pallycon.token.pallycon_drm_token_client import PallyConDrmTokenClient
        from pallycon.token.pallycon_drm_token_policy import ExternalKey, PallyConDrmTokenPolicy, PlaybackPolicy, SecurityPolicy
        from pallycon.token.v2.external_key_hls_aes import ExternalKeyHlsAes
        from pallycon.token.v2.external_key_mpeg_cenc import ExternalKeyMpegCenc
        from pallycon.token.v2.external_key_ncg import ExternalKeyNcg
        from pallycon.token.v2.security_policy_fairplay import SecurityPolicyFairplay
        from pallycon.token.v2.security_policy_ncg import SecurityPolicyNcg
        from pallycon.token.v2.security_policy_playready import SecurityPolicyPlayready
        from pallycon.token.v2.security_policy_widevine import SecurityPolicyWidevine
    except Exception as e:  # e.g. the IndentationError of SDK 2.1.0 as tagged
        return None, f"cannot import the SDK from {path}: {type(e).__name__}: {e}"
    return Impl(
        "official SDK", Policy=PallyConDrmTokenPolicy, PlaybackPolicy=PlaybackPolicy, SecurityPolicy=SecurityPolicy,
        Widevine=SecurityPolicyWidevine, Playready=SecurityPolicyPlayready, Fairplay=SecurityPolicyFairplay,
        NcgSec=SecurityPolicyNcg, ExternalKey=ExternalKey, MpegCenc=ExternalKeyMpegCenc, HlsAes=ExternalKeyHlsAes,
        NcgKey=ExternalKeyNcg, Token=PallyConDrmTokenClient,
    ), f"from {path}"


def readme_policy(m: Impl) -> Any:
    """The policy of the SDK README's example, placeholders filled in."""
    security = (
        m.SecurityPolicy()
        .track_type("ALL")
        .widevine(m.Widevine().security_level(1).required_hdcp_version("HDCP_NONE").required_cgms_flags("CGMS_NONE")
                  .override_device_revocation(False))
        .playready(m.Playready().security_level(150).digital_video_protection_level(100)
                   .analog_video_protection_level(100).digital_audio_protection_level(100))
        .fairplay(m.Fairplay().hdcp_enforcement(-1).allow_airplay(True).allow_av_adapter(True))
        .ncg(m.NcgSec().allow_mobile_abnormal_device(True).allow_external_display(True).control_hdcp(0))
    )
    hls = [m.HlsAes(t, KID, KEY, IV) for t in ("SD", "HD", "UHD1", "UHD2")]
    external = (
        m.ExternalKey()
        .mpeg_cenc(m.MpegCenc("HD", KID, KEY, IV))
        .mpeg_cenc(m.MpegCenc("UHD1", KID, KEY, IV))
        .mpeg_cenc(m.MpegCenc("UHD2", KID, KEY, IV))
        .hls_aes(hls)
        .ncg(m.NcgKey("ALL_VIDEO", CEK))
    )
    playback = m.PlaybackPolicy().allowed_track_types("SD_ONLY").persistent(False)
    return m.Policy().playback(playback).security(security).external(external)


def tutorial_policy(m: Impl) -> Any:
    return m.Policy().playback(m.PlaybackPolicy().persistent(False))


POLICIES: Dict[str, Callable[[Impl], Any]] = {"readme": readme_policy, "tutorial": tutorial_policy}


def client_token(m: Impl, policy: Any) -> str:
    return (
        m.Token().widevine().site_id(SITE_ID).site_key(SITE_KEY).access_key(ACCESS_KEY)
        .user_id("tester-user").cid("bigbuckbunny").policy(policy).response_format("original").execute()
    )


def per_token(fn: Callable[[], Any], n: int) -> float:
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n
    finally:
        if gc_was:
            gc.enable()


def machine() -> Dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_implementation() + " " + platform.python_version(),
        "os": platform.system() + " " + platform.release(),
        "keyward": keyward.__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.25, help="target time per sample")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    impls = [keyward_impl(), pure_impl()]
    official, why = official_impl()
    if official is not None:
        impls.append(official)
    quiet = open(os.devnull, "w")

    # Correctness first: same policy bytes, tokens that verify.
    for pname, build in POLICIES.items():
        want = build(impls[0]).to_json_str()
        for m in impls:
            with contextlib.redirect_stdout(quiet):
                pol = build(m)
                assert pol.to_json_str() == want, (m.name, pname)
                tok = client_token(m, pol)
            v = keyward.verify(tok, site_id=SITE_ID, site_key=SITE_KEY, access_key=ACCESS_KEY)
            assert v["policy_json"] == want, (m.name, pname)

    cases: List[Tuple[str, str, Callable[[], Any]]] = []
    for pname, build in POLICIES.items():
        for m in impls:
            cases.append((pname, f"{m.name}, full", lambda m=m, build=build: client_token(m, build(m))))
            prebuilt = build(m)
            cases.append((pname, f"{m.name}, client", lambda m=m, p=prebuilt: client_token(m, p)))
        kw_pol = build(impls[0])
        cases.append((pname, "keyward.mint", lambda p=kw_pol: keyward.mint(
            p, site_id=SITE_ID, site_key=SITE_KEY, access_key=ACCESS_KEY, user_id="tester-user", cid="bigbuckbunny",
            drm_type="Widevine")))
        pj = kw_pol.to_json_str()
        minter = keyward.Minter(SITE_ID, SITE_KEY, ACCESS_KEY)
        cases.append((pname, "keyward.Minter.mint", lambda p=kw_pol, m=minter: m.mint(p, "tester-user", "bigbuckbunny", "Widevine")))
        # Timed by keyward._bench_mint_rust; the "function" hands it the policy JSON.
        cases.append((pname, "Rust", lambda pj=pj: pj))

    def sample(pname: str, label: str, fn: Callable[[], Any], n: int) -> float:
        if label == "Rust":
            return keyward._bench_mint_rust(n, fn()) / n
        with contextlib.redirect_stdout(quiet):
            return per_token(fn, n)

    # Calibrate N per case.
    sizes: Dict[Tuple[str, str], int] = {}
    for pname, label, fn in cases:
        t = sample(pname, label, fn, 50)
        t = min(t, sample(pname, label, fn, 50))
        sizes[(pname, label)] = max(50, int(args.seconds / max(t, 1e-9)))

    results: Dict[Tuple[str, str], List[float]] = {(p, l): [] for p, l, _ in cases}
    for _ in range(args.rounds):
        for pname, label, fn in cases:
            results[(pname, label)].append(sample(pname, label, fn, sizes[(pname, label)]))

    def med(p: str, l: str) -> float:
        return statistics.median(results[(p, l)])

    def ratio(p: str, a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(results[(p, a)], results[(p, b)]))

    def diff(p: str, a: str, b: str) -> float:
        return statistics.median(x - y for x, y in zip(results[(p, a)], results[(p, b)]))

    mach = machine()
    print("# keyward Python token SDK — benchmark\n")
    print("- command: `python bench/python/bench.py --rounds %d --seconds %s`" % (args.rounds, args.seconds))
    print("- machine: %(cpu)s, %(cores)s cores, %(os)s; %(python)s; keyward %(keyward)s" % mach)
    print("- official SDK: " + ("measured " + why if official else "skipped (" + why + ")"))
    print("- figures: median over %d interleaved rounds; ratios are medians of per-round ratios\n" % args.rounds)
    out: Dict[str, Any] = {"machine": mach, "rounds": args.rounds, "figures": {}, "ratios": {}}
    for pname in POLICIES:
        print(f"## policy: {pname} ({len(POLICIES[pname](impls[0]).to_json_str())} bytes of JSON)\n")
        print("| implementation, flow | µs / token | tokens / s |")
        print("|---|---:|---:|")
        for p, label, _ in cases:
            if p != pname:
                continue
            t = med(p, label)
            out["figures"][f"{p}: {label}"] = {"us_per_token": t * 1e6, "tokens_per_s": 1 / t}
            print(f"| {label} | {t * 1e6:.2f} | {1 / t:,.0f} |")
        print()
        rows = [
            ("keyward vs pure Python (full flow)", "pure Python, full", "keyward, full"),
            ("keyward vs pure Python (client flow)", "pure Python, client", "keyward, client"),
            ("keyward.mint vs pure Python (client flow)", "pure Python, client", "keyward.mint"),
        ]
        if official:
            rows += [
                ("keyward vs official SDK (full flow)", "official SDK, full", "keyward, full"),
                ("keyward vs official SDK (client flow)", "official SDK, client", "keyward, client"),
                ("keyward.mint vs official SDK (client flow)", "official SDK, client", "keyward.mint"),
            ]
        print("| ratio | speed-up |")
        print("|---|---:|")
        for text, slow, fast in rows:
            r = ratio(pname, slow, fast)
            out["ratios"][f"{pname}: {text}"] = r
            print(f"| {text} | {r:.1f}× |")
        for text, a in [("keyward.Minter.mint − Rust mint (Python-call overhead)", "keyward.Minter.mint"),
                        ("keyward.mint − Rust mint (Python-call overhead, 7 keyword arguments)", "keyward.mint"),
                        ("keyward client flow − Rust mint (builder calls + overhead)", "keyward, client")]:
            d = diff(pname, a, "Rust")
            out["ratios"][f"{pname}: {text} (us)"] = d * 1e6
            print(f"| {text} | {d * 1e6:+.2f} µs |")
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
