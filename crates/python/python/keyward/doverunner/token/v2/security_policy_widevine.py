"""``SecurityPolicyWidevine`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    SecurityPolicyWidevine as SecurityPolicyWidevine,
)

__all__ = ['SecurityPolicyWidevine']
