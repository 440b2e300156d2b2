"""WisePlay value sets (DoveRunner 3)."""

from . import security_level, wiseplay_output_control

__all__ = ["security_level", "wiseplay_output_control"]
