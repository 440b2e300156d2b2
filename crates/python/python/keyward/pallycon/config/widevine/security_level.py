"""Widevine ``security_level`` (1-5)."""

SECURITY_LEVEL = (1, 2, 3, 4, 5)

SW_SECURE_CRYPTO = 1
SW_SECURE_DECODE = 2
HW_SECURE_CRYPTO = 3
HW_SECURE_DECODE = 4
HW_SECURE_ALL = 5


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in SECURITY_LEVEL
