"""The receiver's peers in ``python -m bench pipeline``: the same job (take Vocode webhooks,
then handle each event once) built the usual way, FastAPI in front of a Redis job queue.

Both read ``PEER_TOKEN`` (the webhook token) and ``PEER_REDIS_URL`` (``redis://host:port/db``).
"""

HANDLED = "bench:handled"  # the Redis counter of events handled, which the benchmark reads
