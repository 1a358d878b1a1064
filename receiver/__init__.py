"""vocode-receiver: receive Vocode webhook events, store them, dispatch them to handlers.

What handler authors use::

    from receiver import Drop, HandlerContext, Retry, Router
"""

__version__ = "0.1.0"

from receiver.delivery.context import FollowUpRequest, HandlerContext
from receiver.delivery.router import Router
from receiver.delivery.signals import Drop, Retry

__all__ = ["Drop", "FollowUpRequest", "HandlerContext", "Retry", "Router", "__version__"]
