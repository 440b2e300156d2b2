"""The DoveRunner token client, under the module name its README imports."""

from keyward.doverunner._classes import (
    DoverunnerDrmTokenClient as DoverunnerDrmTokenClient,
    DoveRunnerDrmTokenClient as DoveRunnerDrmTokenClient,
)

__all__ = ['DoverunnerDrmTokenClient', 'DoveRunnerDrmTokenClient']
