"""The SDK's exception package."""
