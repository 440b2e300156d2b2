"""The token client."""

from keyward.doverunner._classes import (
    DoverunnerDrmTokenClient as DoverunnerDrmTokenClient,
    DoveRunnerDrmTokenClient as DoveRunnerDrmTokenClient,
)

__all__ = ['DoverunnerDrmTokenClient', 'DoveRunnerDrmTokenClient']
