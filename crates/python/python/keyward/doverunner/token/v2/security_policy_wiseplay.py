"""``SecurityPolicyWiseplay`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicyWiseplay as SecurityPolicyWiseplay,
)

__all__ = ['SecurityPolicyWiseplay']
