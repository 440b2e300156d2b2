"""``SecurityPolicyFairplay``."""

from keyward._native import (
    SecurityPolicyFairplay as SecurityPolicyFairplay,
)

__all__ = ['SecurityPolicyFairplay']
