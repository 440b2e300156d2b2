"""``PlaybackPolicy`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    PlaybackPolicy as PlaybackPolicy,
)

__all__ = ['PlaybackPolicy']
