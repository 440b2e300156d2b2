"""PlayReady ``security_level`` (3000 = hardware DRM)."""

SECURITY_LEVEL = (150, 2000, 3000)

LEVEL_150 = 150
LEVEL_2000 = 2000
LEVEL_3000 = 3000


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in SECURITY_LEVEL
