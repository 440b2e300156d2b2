"""``response_format`` values of the PallyCon 2.1 SDK (``json``: use the unified or DoveRunner dialect)."""

RESPONSE_FORMAT = ('original', 'custom')

ORIGINAL = 'original'
CUSTOM = 'custom'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in RESPONSE_FORMAT
