"""``SecurityPolicyPlayready``."""

from keyward._native import (
    SecurityPolicyPlayready as SecurityPolicyPlayready,
)

__all__ = ['SecurityPolicyPlayready']
