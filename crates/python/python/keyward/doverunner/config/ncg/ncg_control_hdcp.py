"""NCG ``control_hdcp``: 0 none, 1 HDCP 1.4, 2 HDCP 2.2."""

CONTROL_HDCP = (0, 1, 2)

HDCP_NONE = 0
HDCP_V1_4 = 1
HDCP_V2_2 = 2


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in CONTROL_HDCP
