"""WisePlay ``output_control`` (the SDK only checks that it is an int)."""

OUTPUT_CONTROL = (0, 1, 2, 3)

HDCP_NONE = 0
HDCP_V1_4 = 1
HDCP_V2_2 = 2
HDCP_RESTRICTED = 3


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in OUTPUT_CONTROL
