"""``SecurityPolicyFairplay`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicyFairplay as SecurityPolicyFairplay,
)

__all__ = ['SecurityPolicyFairplay']
