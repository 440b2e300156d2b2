"""``ExternalKeyHlsAes`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    ExternalKeyHlsAes as ExternalKeyHlsAes,
)

__all__ = ['ExternalKeyHlsAes']
