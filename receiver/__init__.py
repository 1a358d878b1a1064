"""vocode-receiver: receive Vocode webhook events, store them, dispatch them to handlers.

What handler authors use::

    from receiver import Drop, HandlerContext, Retry, Router
"""

__version__ = "0.1.0"

from receiver.context import FollowUpRequest, HandlerContext  # noqa: E402
from receiver.outcomes import Drop, Retry  # noqa: E402
from receiver.router import Router  # noqa: E402

__all__ = ["Drop", "FollowUpRequest", "HandlerContext", "Retry", "Router", "__version__"]
