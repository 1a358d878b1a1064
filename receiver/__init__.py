"""vocode-receiver: receive Vocode webhook events, store them, dispatch them to handlers."""

__version__ = "0.1.0"

__all__ = ["__version__"]
