"""NCG value sets."""

from . import ncg_control_hdcp

__all__ = ["ncg_control_hdcp"]
