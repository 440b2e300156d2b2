"""PlayReady value sets (output protection levels)."""

from . import analog_video_protection, digital_audio_protection, digital_video_protection, security_level

__all__ = ["analog_video_protection", "digital_audio_protection", "digital_video_protection", "security_level"]
