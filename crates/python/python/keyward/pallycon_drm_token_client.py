"""The token client, under the module name the PallyCon README imports."""

from keyward._native import (
    PallyConDrmTokenClient as PallyConDrmTokenClient,
)

__all__ = ['PallyConDrmTokenClient']
