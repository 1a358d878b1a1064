"""Calls the receiver knows: looked up when their terminal event does not come
(:mod:`.reconciler`), their terminal event made from their state (:mod:`.synthesize`), and
the Call fetched for handlers that ask (:mod:`.enrich`)."""
