"""``SecurityPolicyWidevine``."""

from keyward._native import (
    SecurityPolicyWidevine as SecurityPolicyWidevine,
)

__all__ = ['SecurityPolicyWidevine']
