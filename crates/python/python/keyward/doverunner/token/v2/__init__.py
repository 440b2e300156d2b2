"""The policy sections of licence token v2."""
