"""The policy and its parts, under the module name the PallyCon README imports."""

from keyward._native import (
    PallyConDrmTokenPolicy as PallyConDrmTokenPolicy,
    PlaybackPolicy as PlaybackPolicy,
    SecurityPolicy as SecurityPolicy,
    ExternalKey as ExternalKey,
)

__all__ = ['PallyConDrmTokenPolicy', 'PlaybackPolicy', 'SecurityPolicy', 'ExternalKey']
