"""``ExternalKeyMpegCenc`` (DoveRunner 3 dialect)."""

from keyward.doverunner._classes import (
    ExternalKeyMpegCenc as ExternalKeyMpegCenc,
)

__all__ = ['ExternalKeyMpegCenc']
