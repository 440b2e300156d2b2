"""Widevine ``required_cgms_flags`` (analog output protection)."""

REQUIRED_CGMS_FLAGS = ('CGMS_NONE', 'COPY_FREE', 'COPY_ONCE', 'COPY_NEVER')

CGMS_NONE = 'CGMS_NONE'
COPY_FREE = 'COPY_FREE'
COPY_ONCE = 'COPY_ONCE'
COPY_NEVER = 'COPY_NEVER'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in REQUIRED_CGMS_FLAGS
