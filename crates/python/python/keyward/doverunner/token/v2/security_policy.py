"""``SecurityPolicy`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicy as SecurityPolicy,
)

__all__ = ['SecurityPolicy']
