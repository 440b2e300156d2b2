"""Playback value sets."""

from . import allowed_track_types

__all__ = ["allowed_track_types"]
