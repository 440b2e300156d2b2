"""``SecurityPolicyNcg`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicyNcg as SecurityPolicyNcg,
)

__all__ = ['SecurityPolicyNcg']
