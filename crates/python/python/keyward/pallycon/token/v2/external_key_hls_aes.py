"""``ExternalKeyHlsAes``."""

from keyward._native import (
    ExternalKeyHlsAes as ExternalKeyHlsAes,
)

__all__ = ['ExternalKeyHlsAes']
