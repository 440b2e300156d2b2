"""``response_format`` values."""

RESPONSE_FORMAT = ('original', 'custom', 'json')

ORIGINAL = 'original'
CUSTOM = 'custom'
JSON = 'json'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in RESPONSE_FORMAT
