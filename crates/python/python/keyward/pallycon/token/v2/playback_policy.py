"""``PlaybackPolicy``."""

from keyward._native import (
    PlaybackPolicy as PlaybackPolicy,
)

__all__ = ['PlaybackPolicy']
