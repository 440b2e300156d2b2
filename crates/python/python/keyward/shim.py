"""One import line to run code written for the vendor SDKs unchanged.

``from keyward.shim import *`` (or ``import keyward.shim``) makes the SDKs'
own module paths resolve to keyward: ``pallycon``, ``pallycon.config...``,
``pallycon.token...``, ``pallycon.exception...``, ``doverunner...``, and the
bare ``pallycon_drm_token_client`` / ``pallycon_drm_token_policy`` (and the
DoveRunner pair) that the SDKs' READMEs import. The star import also brings
the README's short names (``Widevine``, ``Ncg``, ``HlsAes``, ``track_type``,
...) and ``PallyConTokenException``. Real ``pallycon`` / ``doverunner``
packages already imported are left alone.
"""

import importlib
import pkgutil
import sys

import keyward.doverunner
import keyward.pallycon
from keyward.pallycon import *  # noqa: F401,F403
from keyward.pallycon import __all__ as _pallycon_all


def install() -> None:
    """Registers the aliases in ``sys.modules`` (idempotent)."""
    for alias, package in (("pallycon", keyward.pallycon), ("doverunner", keyward.doverunner)):
        if alias in sys.modules and sys.modules[alias] is not package:
            continue
        sys.modules[alias] = package
        prefix = package.__name__ + "."
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            module = importlib.import_module(info.name)
            sys.modules[alias + "." + info.name[len(prefix):]] = module
    for name in (
        "pallycon_drm_token_client",
        "pallycon_drm_token_policy",
        "doverunner_drm_token_client",
        "doverunner_drm_token_policy",
    ):
        sys.modules.setdefault(name, importlib.import_module("keyward." + name))


install()

__all__ = list(_pallycon_all) + ["install"]
