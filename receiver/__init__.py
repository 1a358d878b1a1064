"""vocode-receiver: receive Vocode webhook events, store them, dispatch them to handlers.

What handler authors use::

    from receiver import Drop, HandlerContext, Retry, Router
"""

__version__ = "0.1.0"

from receiver.context import FollowUpRequest, HandlerContext
from receiver.outcomes import Drop, Retry
from receiver.router import Router

__all__ = ["Drop", "FollowUpRequest", "HandlerContext", "Retry", "Router", "__version__"]
