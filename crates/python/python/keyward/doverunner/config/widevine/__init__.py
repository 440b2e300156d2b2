"""Widevine value sets."""

from . import hdcp_srm_rule, required_cgms_flags, required_hdcp_version, security_level

__all__ = ["hdcp_srm_rule", "required_cgms_flags", "required_hdcp_version", "security_level"]
