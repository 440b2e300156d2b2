"""``SecurityPolicyPlayready`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicyPlayready as SecurityPolicyPlayready,
)

__all__ = ['SecurityPolicyPlayready']
