"""FairPlay ``hdcp_enforcement``: -1 none, 0 HDCP type 0, 1 HDCP type 1 (named HDCP_TYPE_2 by the SDK)."""

FAIRPLAY_HDCP_ENFORCEMENT = (-1, 0, 1)

HDCP_NONE = -1
HDCP_TYPE_0 = 0
HDCP_TYPE_2 = 1


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in FAIRPLAY_HDCP_ENFORCEMENT
