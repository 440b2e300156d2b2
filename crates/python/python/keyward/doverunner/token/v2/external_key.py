"""``ExternalKey`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    ExternalKey as ExternalKey,
)

__all__ = ['ExternalKey']
