"""Widevine ``required_hdcp_version``."""

REQUIRED_HDCP_VERSION = ('HDCP_NONE', 'HDCP_V1', 'HDCP_V2', 'HDCP_V2_1', 'HDCP_V2_2', 'HDCP_NO_DIGITAL_OUTPUT')

HDCP_NONE = 'HDCP_NONE'
HDCP_V1 = 'HDCP_V1'
HDCP_V2 = 'HDCP_V2'
HDCP_V2_1 = 'HDCP_V2_1'
HDCP_V2_2 = 'HDCP_V2_2'
HDCP_NO_DIGITAL_OUTPUT = 'HDCP_NO_DIGITAL_OUTPUT'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in REQUIRED_HDCP_VERSION
