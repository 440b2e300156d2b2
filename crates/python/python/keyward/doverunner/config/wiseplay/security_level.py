"""WisePlay ``security_level`` (the SDK only checks that it is an int)."""

SECURITY_LEVEL = (1, 2, 3)

SW_LEVEL_1 = 1
HW_LEVEL_2 = 2
ENHANCED_HW_LEVEL_3 = 3


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in SECURITY_LEVEL
