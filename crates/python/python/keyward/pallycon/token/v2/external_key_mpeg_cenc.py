"""``ExternalKeyMpegCenc``."""

from keyward._native import (
    ExternalKeyMpegCenc as ExternalKeyMpegCenc,
)

__all__ = ['ExternalKeyMpegCenc']
