"""Values of ``playback_policy.allowed_track_types``."""

ALLOWED_TRACK_TYPES = ('ALL', 'SD_ONLY', 'SD_HD', 'SD_UHD1', 'SD_UHD2')

ALL = 'ALL'
SD_ONLY = 'SD_ONLY'
SD_HD = 'SD_HD'
SD_UHD1 = 'SD_UHD1'
SD_UHD2 = 'SD_UHD2'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in ALLOWED_TRACK_TYPES
