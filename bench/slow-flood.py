#!/usr/bin/env python3
"""One client's slow-body flood against keyward, then SIGTERM with stalled clients.

    python3 bench/slow-flood.py [--keyward target/release/keyward]
                                [--connections 1030] [--seconds 12]

Reproduces findings 2 and 3 of issue 11 and reports the figures of its closing note:

1. Flood: --connections sockets from 127.0.0.2 each send the headers of an
   unauthenticated `POST /v2/token` and 1 byte of a 100-byte body, then nothing;
   every flood connection the server answers or closes is replaced by a new one
   (at most REPLACE_BATCH per 50 ms), so the flood is sustained. One second
   after the first wave, a probe from 127.0.0.1 asks `GET /healthz` and a
   ClearKey licence (`POST /v1/license/clearkey` with a PallyCon token) every
   0.3 s, each on a new connection, for --seconds. Reported: the flood
   connections open and held (open, no answer) at each probe (min/max), how
   each flood request was answered (times in seconds since the flood began),
   and how many probes got 200 (the others counted by answer, with their time
   span).
2. Shutdown: with a half-sent request and a request whose body never comes (both
   from 127.0.0.2), SIGTERM; reported: seconds to exit, the exit code, and
   whether the store was closed cleanly ("keyward stopped" in the log).

The server runs with its defaults (limits.max_concurrency 1024, request timeout
10 s, and on this branch the [server] defaults) on a free port of 127.0.0.1, in
a temporary data directory removed at the end. Loopback only, bounded: every
socket has a timeout, the script stops itself after --watchdog seconds, and the
server is killed on any exit. Plain Python 3 standard library.
"""

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

SK = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC"
AK = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20"
SITE = "TEST"
CID = "movie-1"
KID = "abba271e8bcf552bbd2e86a434a9a5d9"
KEY = "69eaa802a6763af979e8d1940fb88392"
KID_B64 = "q7onHovPVSu9LoakNKml2Q"
FLOODER = "127.0.0.2"
PROBER = "127.0.0.1"
# Flood connections replaced per read of their answers (so at most about
# this many new connections every 50 ms).
REPLACE_BATCH = 50


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    env["KEYWARD_LOG_FORMAT"] = "human"
    return env


def kw(binary, *args, stdin=None):
    r = subprocess.run(
        [binary, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    if r.returncode != 0:
        sys.exit(f"keyward {' '.join(args[:2])} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind((PROBER, 0))
        return s.getsockname()[1]


def connect(src, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((PROBER, port))
    return s


def parse_answer(data):
    """(status, x-keyward-error-code) of a response head, or None if incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    status = int(lines[0][9:12])
    code = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-keyward-error-code":
            code = value.strip()
    return status, code


def exchange(src, port, raw, timeout=5.0):
    """Sends `raw` on a new connection; returns (status, code, seconds) or an error text."""
    t0 = time.monotonic()
    try:
        with connect(src, port, timeout) as s:
            s.sendall(raw)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if parse_answer(data) is not None:
                    break
    except OSError as e:
        return f"{type(e).__name__}", None, time.monotonic() - t0
    answer = parse_answer(data)
    if answer is None:
        return "closed", None, time.monotonic() - t0
    return answer[0], answer[1], time.monotonic() - t0


class Server:
    def __init__(self, binary, data_dir):
        self.port = free_port()
        self.log_path = os.path.join(data_dir, "..", "serve.log")
        self.log = open(self.log_path, "a")
        # A second server on the same directory appends to the same log.
        self.offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"{PROBER}:{self.port}", "--data-dir", data_dir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=clean_env(),
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while "keyward listening" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("keyward serve did not start:\n" + self.log_text())
            time.sleep(0.05)

    def log_text(self):
        with open(self.log_path) as f:
            f.seek(self.offset)
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keyward", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "keyward"))
    p.add_argument("--connections", type=int, default=1030)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--shutdown-wait", type=float, default=30.0)
    p.add_argument("--watchdog", type=int, default=120)
    args = p.parse_args()
    binary = os.path.abspath(args.keyward)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no keyward binary at {binary}: cargo build --release -p keyward")
    signal.alarm(args.watchdog)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    with tempfile.TemporaryDirectory(prefix="kw-slow-flood.") as tmp:
        data = os.path.join(tmp, "data")
        kw(binary, "site", "add", "--data-dir", data, "--site-id", SITE, "--site-key", SK, "--access-key", AK)
        kw(binary, "key", "add", "--data-dir", data, "--site-id", SITE, "--cid", CID, "--kid", KID, "--key", KEY)
        token = kw(
            binary, "token", "issue", "--site-id", SITE, "--site-key", SK, "--access-key", AK,
            "--drm-type", "ClearKey", "--user-id", "probe", "--cid", CID, "--policy", "-",
            stdin='{"policy_version":2,"playback_policy":{"persistent":false}}',
        )
        srv = Server(binary, data)
        try:
            report = run(args, srv, token)
        finally:
            srv.kill()
        # Again on the same data directory: the restart itself, and a stop
        # with only half-sent headers in the way.
        srv = Server(binary, data)
        try:
            report["shutdown_headers_only"] = shutdown_with_half_sent_headers(args, srv)
        finally:
            srv.kill()
    print(json.dumps(report, indent=2))


def run(args, srv, token):
    report = {"keyward": os.path.abspath(args.keyward)}
    port = srv.port
    head = (
        f"POST /v2/token HTTP/1.1\r\nHost: {PROBER}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    ).encode()
    sel = selectors.DefaultSelector()
    states = []
    flood = {"failed": 0, "to_replace": 0, "sustain": True}
    t0 = time.monotonic()

    def open_one():
        try:
            s = connect(FLOODER, port, timeout=2.0)
            s.sendall(head)
        except OSError:
            flood["failed"] += 1
            return
        s.setblocking(False)
        st = {"data": b"", "answer": None, "at": None}
        sel.register(s, selectors.EVENT_READ, st)
        states.append(st)

    def pump(timeout):
        """Reads the flood's answers; replaces each finished connection
        (at most REPLACE_BATCH per call) while the flood is sustained."""
        for key, _ in sel.select(timeout):
            st = key.data
            try:
                chunk = key.fileobj.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                st["data"] += chunk
                if st["answer"] is None:
                    a = parse_answer(st["data"])
                    if a is not None:
                        st["answer"], st["at"] = a, time.monotonic() - t0
                continue
            if st["answer"] is None:
                st["answer"], st["at"] = ("closed", None), time.monotonic() - t0
            sel.unregister(key.fileobj)
            key.fileobj.close()
            if flood["sustain"]:
                flood["to_replace"] += 1
        n = min(flood["to_replace"], REPLACE_BATCH)
        for _ in range(n):
            open_one()
        flood["to_replace"] -= n

    def open_now():
        return len(sel.get_map())

    def held():
        return sum(1 for key in sel.get_map().values() if key.data["answer"] is None)

    for _ in range(args.connections):
        open_one()
    opened_in = time.monotonic() - t0
    # Let the immediate refusals (and their replacements) settle.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        pump(0.05)

    licence_body = json.dumps({"kids": [KID_B64], "type": "temporary"}).encode()
    probes = []
    held_samples = []
    open_samples = []
    t_probe = time.monotonic()
    i = 0
    while time.monotonic() - t_probe < args.seconds:
        held_samples.append(held())
        open_samples.append(open_now())
        if i % 2 == 0:
            kind, raw = "healthz", b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        else:
            kind = "licence"
            raw = (
                "POST /v1/license/clearkey HTTP/1.1\r\nHost: x\r\n"
                f"pallycon-customdata-v2: {token}\r\nContent-Length: {len(licence_body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + licence_body
        status, code, took = exchange(PROBER, port, raw)
        probes.append({"t": round(time.monotonic() - t0, 2), "kind": kind, "status": status,
                       "code": code, "seconds": round(took, 3)})
        i += 1
        # One probe every 0.3 s, reading (and replacing) the flood meanwhile.
        next_at = t_probe + 0.3 * i
        while (now := time.monotonic()) < next_at:
            pump(next_at - now)
    flood["sustain"] = False
    # The rest of the flood's answers, up to 2 s more.
    end = time.monotonic() + 2.0
    while time.monotonic() < end and sel.get_map():
        pump(0.1)
    outcomes = {}
    for st in states:
        a = st["answer"] or ("still open", None)
        k = f"{a[0]} {a[1] or ''}".strip()
        o = outcomes.setdefault(k, {"count": 0, "first_s": None, "last_s": None})
        o["count"] += 1
        if st["at"] is not None:
            o["first_s"] = round(min(o["first_s"] or st["at"], st["at"]), 2)
            o["last_s"] = round(max(o["last_s"] or 0, st["at"]), 2)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    report["flood"] = {
        "from": FLOODER,
        "initial_connections": args.connections,
        "initial_opened_in_s": round(opened_in, 2),
        "connections_opened_in_all": len(states),
        "connections_failed": flood["failed"],
        "open_during_probes_min_max": [min(open_samples), max(open_samples)],
        "held_without_answer_during_probes_min_max": [min(held_samples), max(held_samples)],
        "answers": outcomes,
    }
    ok = [p for p in probes if p["status"] == 200]
    others = {}
    for pr in probes:
        if pr["status"] == 200:
            continue
        k = f"{pr['kind']} {pr['status']} {pr['code'] or ''}".strip()
        o = others.setdefault(k, {"count": 0, "first_t": pr["t"], "last_t": pr["t"]})
        o["count"] += 1
        o["last_t"] = pr["t"]
    report["probes"] = {
        "from": PROBER,
        "total": len(probes),
        "answered_200": len(ok),
        "not_200": others,
        "first_t": probes[0]["t"] if probes else None,
        "last_t": probes[-1]["t"] if probes else None,
        "slowest_s": max((pr["seconds"] for pr in probes), default=None),
    }

    # Shutdown with stalled clients present.
    half = connect(FLOODER, port)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-a: b\r\n")
    body = connect(FLOODER, port)
    body.sendall(b"POST /v2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    time.sleep(0.5)
    t_term = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=args.shutdown_wait)
        took = round(time.monotonic() - t_term, 2)
    except subprocess.TimeoutExpired:
        # The operator's only option left; the stalled clients are still there.
        srv.proc.kill()
        srv.proc.wait()
        code, took = None, f"still running after {args.shutdown_wait} s (killed)"
    half.close()
    body.close()
    report["shutdown"] = {
        "stalled": "half-sent headers + a body that never comes",
        "seconds_to_exit": took,
        "exit_code": code,
        "store_closed_cleanly": "keyward stopped" in srv.log_text(),
    }
    return report


def shutdown_with_half_sent_headers(args, srv):
    """SIGTERM while one client holds half-sent headers (finding 2)."""
    half = connect(FLOODER, srv.port)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-a: b\r\n")
    time.sleep(0.5)
    t_term = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=args.shutdown_wait)
        took = round(time.monotonic() - t_term, 2)
    except subprocess.TimeoutExpired:
        # The operator's only option left; the stalled clients are still there.
        srv.proc.kill()
        srv.proc.wait()
        code, took = None, f"still running after {args.shutdown_wait} s (killed)"
    half.close()
    return {
        "stalled": "half-sent headers",
        "seconds_to_exit": took,
        "exit_code": code,
        "store_closed_cleanly": "keyward stopped" in srv.log_text(),
    }


if __name__ == "__main__":
    main()
