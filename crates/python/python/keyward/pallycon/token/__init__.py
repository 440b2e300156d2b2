"""The SDK's token package: client and policy."""
