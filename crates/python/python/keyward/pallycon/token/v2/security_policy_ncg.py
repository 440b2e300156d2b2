"""``SecurityPolicyNcg``."""

from keyward._native import (
    SecurityPolicyNcg as SecurityPolicyNcg,
)

__all__ = ['SecurityPolicyNcg']
