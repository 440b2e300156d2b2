"""``SecurityPolicy``."""

from keyward._native import (
    SecurityPolicy as SecurityPolicy,
)

__all__ = ['SecurityPolicy']
