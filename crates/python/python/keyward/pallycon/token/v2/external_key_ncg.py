"""``ExternalKeyNcg``."""

from keyward._native import (
    ExternalKeyNcg as ExternalKeyNcg,
)

__all__ = ['ExternalKeyNcg']
