"""``PallyConTokenException`` and the SDK's code table (``error_dict``)."""

from typing import Dict, List, Tuple

from keyward._errors import PALLYCON_MESSAGES, PallyConTokenException

error_dict: Dict[str, str] = dict(PALLYCON_MESSAGES)
error_list: List[Tuple[str, str]] = sorted(error_dict.items())

__all__ = ["PallyConTokenException", "error_dict", "error_list"]
