"""SQLite schema versions, applied in order. Never edit a released version: add the next one.

Each version is split on ";" into statements: no semicolon inside a statement or comment.
Version n here and version n of ``store/postgres/schema.py`` make the same change.
"""

from __future__ import annotations

from receiver.store.migrations import e164_numbers
from receiver.store.plan import Version

VERSIONS: list[Version] = [
    Version(
        "events and their deliveries, follow-up intents, the do-not-call list",
        """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        dedup_key TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        call_id TEXT NOT NULL,
        received_at REAL NOT NULL,
        method TEXT NOT NULL,
        headers TEXT NOT NULL,
        envelope TEXT NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX events_call ON events (call_id, seq);
    CREATE INDEX events_type ON events (type, seq);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_seq INTEGER NOT NULL REFERENCES events (seq),
        event_id TEXT NOT NULL,
        handler TEXT NOT NULL,
        call_id TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',  -- pending running done dropped skipped dead
        attempts INTEGER NOT NULL DEFAULT 0,
        side_effects INTEGER NOT NULL DEFAULT 1,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (event_seq, handler)
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    CREATE INDEX deliveries_call ON deliveries (handler, call_id, event_seq);
    CREATE TABLE follow_ups (
        key TEXT PRIMARY KEY,  -- <event id>/<handler>/<n-th follow-up of that run>
        event_id TEXT NOT NULL,
        handler TEXT NOT NULL,
        call_id TEXT NOT NULL,  -- the call whose event asked for it
        to_number TEXT NOT NULL,
        from_number TEXT NOT NULL,
        request TEXT NOT NULL,  -- the create-call body, JSON
        not_before REAL NOT NULL,
        depth INTEGER NOT NULL DEFAULT 1,  -- 1 + depth of call_id (0 if not ours)
        status TEXT NOT NULL,  -- pending sending created rejected held refused suppressed cancelled
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        reconcile INTEGER NOT NULL DEFAULT 0,  -- 1: may have been sent, look before sending
        vocode_call_id TEXT,
        reason TEXT,
        sent_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX follow_ups_due ON follow_ups (status, next_attempt_at);
    CREATE INDEX follow_ups_number ON follow_ups (to_number, sent_at);
    CREATE INDEX follow_ups_call ON follow_ups (vocode_call_id);
    CREATE TABLE do_not_call (
        number TEXT PRIMARY KEY,
        reason TEXT,
        created_at REAL NOT NULL
    );
    """,
    ),
    # 2: a claim checks a call's earlier deliveries (per-call order) among the active ones
    # only, without reading every finished delivery of the call (PostgreSQL's has been
    # partial since 1)
    Version(
        "the partial index of active deliveries per call",
        """
    CREATE INDEX deliveries_active_call ON deliveries (handler, call_id, event_seq)
        WHERE status IN ('pending', 'running')
    """,
    ),
    # 3: deliveries_call is dropped: since 2 no statement reads it (claims use the partial
    # index), and every delivery written cost an insertion into it at a key of its own call,
    # one more page for each commit to write
    Version("drop the full index of deliveries per call", "DROP INDEX IF EXISTS deliveries_call"),
    # 4: numbers in E.164 (receiver/store/migrations.py), duplicates merged
    Version("do-not-call and follow-up numbers in E.164", rewrite=e164_numbers),
    # 5: the W3C trace context of the request that stored an event, and of the handler run
    # that asked for a follow-up (NULL when tracing is off)
    Version(
        "trace context of events and follow-up intents",
        """
    ALTER TABLE events ADD COLUMN trace_context TEXT;
    ALTER TABLE follow_ups ADD COLUMN trace_context TEXT
    """,
    ),
    # 6: quarantine. An event whose payload did not fit its type's model is stored with the
    # validation errors (JSON, with the version that found them) and no delivery, until
    # `receiver events reparse` releases it (released_at). The partial index holds the
    # quarantined ones only: it costs other events nothing
    Version(
        "quarantined events: their validation errors, and when a reparse released them",
        """
    ALTER TABLE events ADD COLUMN quarantine TEXT;
    ALTER TABLE events ADD COLUMN released_at REAL;
    CREATE INDEX events_quarantined ON events (seq)
        WHERE quarantine IS NOT NULL AND released_at IS NULL
    """,
    ),
    # 7: the console's lists of follow-up intents, newest first: all of them, by status, and
    # those a call's events asked for (the call's page); keyset pages on (created_at, key).
    # Follow-ups are written far less often than events: intake pays nothing for these
    Version(
        "indexes of follow-up intents for the console: by time, by status, by call",
        """
    CREATE INDEX follow_ups_created ON follow_ups (created_at, key);
    CREATE INDEX follow_ups_status ON follow_ups (status, created_at, key);
    CREATE INDEX follow_ups_origin ON follow_ups (call_id, created_at)
    """,
    ),
    # 8: the calls the receiver knows (from their events, or created by a follow-up), each
    # with its last known stage, so that one whose terminal event never came can be looked
    # up (receiver/calls/reconciler.py); and the Call a handler with enrich=True was given,
    # fetched once per event. calls_open holds the calls still waiting: intake's update of
    # a call's last event costs the others nothing
    Version(
        "the calls the receiver knows, and the Call fetched for an event",
        """
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,  -- event follow_up
        status TEXT NOT NULL DEFAULT 'open',  -- see receiver/store/call_records.py CALL_STATUSES
        stage TEXT NOT NULL,  -- created connected ended did_not_connect
        events INTEGER NOT NULL DEFAULT 0,
        last_event_type TEXT,
        first_seen_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,  -- its last event, or its creation
        lookups INTEGER NOT NULL DEFAULT 0,  -- lookups made, the fencing token of a lease
        next_check_at REAL,
        lease_until REAL,
        last_result TEXT,
        terminal_event_id TEXT,
        updated_at REAL NOT NULL
    );
    CREATE INDEX calls_open ON calls (last_seen_at) WHERE status = 'open';
    CREATE INDEX calls_first_seen ON calls (first_seen_at);
    ALTER TABLE events ADD COLUMN call_snapshot TEXT
    """,
    ),
    # 9: follow_ups.reconcile_until, the end of the search for a call whose creation may have
    # happened (NULL: released by an operator, look once); write_probe, written by /readyz
    # to learn whether the store can commit
    Version(
        "the end of a follow-up's search for its call; the write probe of readiness",
        """
    ALTER TABLE follow_ups ADD COLUMN reconcile_until REAL;
    UPDATE follow_ups SET reconcile_until = updated_at + 120
        WHERE reconcile = 1 AND status IN ('pending', 'sending') AND attempts > 0;
    CREATE TABLE write_probe (id INTEGER PRIMARY KEY, at REAL NOT NULL)
    """,
    ),
    # 10: each unordered handler's active deliveries in due order (PostgreSQL's
    # deliveries_active, partial on its pending rows since 1): a claim for one handler read
    # deliveries_due and skipped every due row of the others, all of a million-row backlog
    # whose handler had no free slot (python -m bench scale)
    Version(
        "the partial index of active deliveries per handler, in due order",
        """
    CREATE INDEX deliveries_active ON deliveries (handler, next_attempt_at)
        WHERE status IN ('pending', 'running')
    """,
    ),
]
