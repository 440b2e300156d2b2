"""PlayReady ``analog_video_protection_level``."""

ANALOG_VIDEO_PROTECTION_LEVEL = (100, 150, 200, 201)

LEVEL_100 = 100
LEVEL_150 = 150
LEVEL_200 = 200
LEVEL_201 = 201


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in ANALOG_VIDEO_PROTECTION_LEVEL
