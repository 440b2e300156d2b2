"""Shared paths and fixtures for keyward's Python tests."""

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "testdata" / "vectors"
VECTOR_FILES = ["pallycon_python_sdk.jsonl", "doverunner_python_sdk_v3.jsonl"]

SITE_ID = "TUTO"
SITE_KEY = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC"
ACCESS_KEY = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20"


def load_records() -> List[Dict[str, Any]]:
    out = []
    for name in VECTOR_FILES:
        with open(VECTORS / name, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    rec["_file"] = name
                    out.append(rec)
    return out


RECORDS = load_records()


def record_id(rec: Dict[str, Any]) -> str:
    return rec["_file"].split("_")[0] + ":" + rec["name"]


def find_keyward_bin() -> Optional[Path]:
    """The CLI binary: $KEYWARD_BIN, else the newest of $CARGO_TARGET_DIR and
    the repository's target/ (release or debug)."""
    env = os.environ.get("KEYWARD_BIN")
    if env:
        return Path(env) if Path(env).is_file() else None
    dirs = []
    if os.environ.get("CARGO_TARGET_DIR"):
        dirs.append(Path(os.environ["CARGO_TARGET_DIR"]))
    dirs.append(REPO / "target")
    found = [d / p / "keyward" for d in dirs for p in ("release", "debug") if (d / p / "keyward").is_file()]
    if not found:
        which = shutil.which("keyward")
        return Path(which) if which else None
    return max(found, key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="session")
def keyward_bin() -> Path:
    b = find_keyward_bin()
    if b is None:
        pytest.skip(
            "no keyward binary: build it with `cargo build -p keyward` (scripts/python-test.sh does) "
            "or set KEYWARD_BIN"
        )
    return b
