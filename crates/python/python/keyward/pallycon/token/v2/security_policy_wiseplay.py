"""``SecurityPolicyWiseplay``."""

from keyward._native import (
    SecurityPolicyWiseplay as SecurityPolicyWiseplay,
)

__all__ = ['SecurityPolicyWiseplay']
