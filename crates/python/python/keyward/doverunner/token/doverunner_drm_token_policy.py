"""The policy and its parts."""

from keyward.doverunner._classes import (
    DoverunnerDrmTokenPolicy as DoverunnerDrmTokenPolicy,
    DoveRunnerDrmTokenPolicy as DoveRunnerDrmTokenPolicy,
    PlaybackPolicy as PlaybackPolicy,
    SecurityPolicy as SecurityPolicy,
    ExternalKey as ExternalKey,
)

__all__ = ['DoverunnerDrmTokenPolicy', 'DoveRunnerDrmTokenPolicy', 'PlaybackPolicy', 'SecurityPolicy', 'ExternalKey']
