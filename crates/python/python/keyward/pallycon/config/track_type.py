"""Track types of security policies and external keys."""

TRACK_TYPE = ('ALL', 'ALL_VIDEO', 'AUDIO', 'SD', 'HD', 'UHD1', 'UHD2')

ALL = 'ALL'
ALL_VIDEO = 'ALL_VIDEO'
AUDIO = 'AUDIO'
SD = 'SD'
HD = 'HD'
UHD1 = 'UHD1'
UHD2 = 'UHD2'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in TRACK_TYPE
