"""Widevine ``hdcp_srm_rule``."""

HDCP_SRM_RULE = ('HDCP_SRM_RULE_NONE', 'CURRENT_SRM')

HDCP_SRM_RULE_NONE = 'HDCP_SRM_RULE_NONE'
CURRENT_SRM = 'CURRENT_SRM'


def check(value: object) -> bool:
    """Whether ``value`` is accepted (the SDK's own membership test)."""
    return value in HDCP_SRM_RULE
