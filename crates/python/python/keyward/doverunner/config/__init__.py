"""Policy value sets, as the DoveRunner SDK's ``doverunner.config`` package."""
