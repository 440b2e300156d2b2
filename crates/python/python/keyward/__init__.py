"""keyward: a Rust-backed, drop-in replacement for the PallyCon / DoveRunner
Python token SDKs, plus plain ``mint`` / ``verify`` / ``customdata`` functions.

Drop-in use keeps the SDK's module layout under ``keyward.pallycon`` (PallyCon
2.1) and ``keyward.doverunner`` (DoveRunner 3.0)::

    from keyward.pallycon.token.pallycon_drm_token_client import PallyConDrmTokenClient

Tokens are byte-identical to the SDKs' for the same builder calls; the
builders, JSON, AES and SHA-256 run in Rust (``keyward-token``).
"""

from keyward._errors import (
    DoveRunnerTokenException,
    DoverunnerTokenException,
    PallyConTokenException,
    TokenVerifyError,
)
from keyward._native import (
    ExternalKey,
    ExternalKeyHlsAes,
    ExternalKeyMpegCenc,
    ExternalKeyNcg,
    Minter,
    PallyConDrmTokenClient,
    PallyConDrmTokenPolicy,
    PlaybackPolicy,
    SecurityPolicy,
    SecurityPolicyFairplay,
    SecurityPolicyNcg,
    SecurityPolicyPlayready,
    SecurityPolicyWidevine,
    SecurityPolicyWiseplay,
    __version__,
    _bench_mint_rust,
    customdata,
    mint,
    verify,
)

__all__ = [
    "DoveRunnerTokenException",
    "DoverunnerTokenException",
    "ExternalKey",
    "ExternalKeyHlsAes",
    "ExternalKeyMpegCenc",
    "ExternalKeyNcg",
    "Minter",
    "PallyConDrmTokenClient",
    "PallyConDrmTokenPolicy",
    "PallyConTokenException",
    "PlaybackPolicy",
    "SecurityPolicy",
    "SecurityPolicyFairplay",
    "SecurityPolicyNcg",
    "SecurityPolicyPlayready",
    "SecurityPolicyWidevine",
    "SecurityPolicyWiseplay",
    "TokenVerifyError",
    "__version__",
    "customdata",
    "mint",
    "verify",
]
