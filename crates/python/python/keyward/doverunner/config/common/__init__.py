"""Values shared by every DRM."""

from . import response_format, track_type

__all__ = ["response_format", "track_type"]
