"""The DoveRunner policy and its parts, under the module name its README imports."""

from keyward.doverunner._classes import (
    DoverunnerDrmTokenPolicy as DoverunnerDrmTokenPolicy,
    DoveRunnerDrmTokenPolicy as DoveRunnerDrmTokenPolicy,
    PlaybackPolicy as PlaybackPolicy,
    SecurityPolicy as SecurityPolicy,
    ExternalKey as ExternalKey,
)

__all__ = ['DoverunnerDrmTokenPolicy', 'DoveRunnerDrmTokenPolicy', 'PlaybackPolicy', 'SecurityPolicy', 'ExternalKey']
