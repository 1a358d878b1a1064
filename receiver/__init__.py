"""vocode-receiver: receive Vocode webhook events, store them, dispatch them to handlers.

What handler authors use::

    from receiver import Drop, HandlerContext, Retry, Router
"""

__version__ = "0.1.0"

from receiver.delivery.context import HandlerContext
from receiver.delivery.router import Router
from receiver.delivery.signals import Drop, Retry
from receiver.follow_ups.intent import FollowUpRequest

__all__ = ["Drop", "FollowUpRequest", "HandlerContext", "Retry", "Router", "__version__"]
