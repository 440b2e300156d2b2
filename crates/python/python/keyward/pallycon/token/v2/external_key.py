"""``ExternalKey``."""

from keyward._native import (
    ExternalKey as ExternalKey,
)

__all__ = ['ExternalKey']
