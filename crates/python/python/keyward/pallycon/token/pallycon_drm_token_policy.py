"""The policy and its parts."""

from keyward._native import (
    PallyConDrmTokenPolicy as PallyConDrmTokenPolicy,
    PlaybackPolicy as PlaybackPolicy,
    SecurityPolicy as SecurityPolicy,
    ExternalKey as ExternalKey,
)

__all__ = ['PallyConDrmTokenPolicy', 'PlaybackPolicy', 'SecurityPolicy', 'ExternalKey']
