"""PlayReady ``digital_video_protection_level``."""

DIGITAL_VIDEO_PROTECTION_LEVEL = (100, 250, 270, 300, 301)

LEVEL_100 = 100
LEVEL_250 = 250
LEVEL_270 = 270
LEVEL_300 = 300
LEVEL_301 = 301


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in DIGITAL_VIDEO_PROTECTION_LEVEL
