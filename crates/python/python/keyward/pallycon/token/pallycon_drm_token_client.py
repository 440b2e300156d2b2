"""The token client."""

from keyward._native import (
    PallyConDrmTokenClient as PallyConDrmTokenClient,
)

__all__ = ['PallyConDrmTokenClient']
