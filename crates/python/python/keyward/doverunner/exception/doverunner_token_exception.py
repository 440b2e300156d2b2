"""``DoverunnerTokenException`` and the SDK's code table (``error_dict``)."""

from typing import Dict, List, Tuple

from keyward._errors import DOVERUNNER_MESSAGES, DoveRunnerTokenException, DoverunnerTokenException

error_dict: Dict[str, str] = dict(DOVERUNNER_MESSAGES)
error_list: List[Tuple[str, str]] = sorted(error_dict.items())

__all__ = ["DoveRunnerTokenException", "DoverunnerTokenException", "error_dict", "error_list"]
