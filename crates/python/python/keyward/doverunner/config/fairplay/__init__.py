"""FairPlay value sets."""

from . import fairplay_hdcp_enforcement

__all__ = ["fairplay_hdcp_enforcement"]
