"""PlayReady ``digital_audio_protection_level``."""

DIGITAL_AUDIO_PROTECTION = (100, 250, 300, 301)

LEVEL_100 = 100
LEVEL_250 = 250
LEVEL_300 = 300
LEVEL_301 = 301


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in DIGITAL_AUDIO_PROTECTION
