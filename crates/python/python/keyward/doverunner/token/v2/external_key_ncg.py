"""``ExternalKeyNcg`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    ExternalKeyNcg as ExternalKeyNcg,
)

__all__ = ['ExternalKeyNcg']
