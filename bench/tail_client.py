"""A console left open on the live tail, for the intake benchmark: reads the Server-Sent
Events stream until SIGTERM, then prints what it saw as one JSON line.

    python -m bench.tail_client URL OPERATOR_TOKEN
"""

from __future__ import annotations

import json
import signal
import sys

import httpx

seen = {"stored": 0, "skipped": 0, "messages": 0}


def _stop(*_: object) -> None:
    print(json.dumps(seen), flush=True)
    sys.exit(0)


def main(url: str, token: str) -> None:
    signal.signal(signal.SIGTERM, _stop)
    headers = {"authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(10, read=None)
    with httpx.stream("GET", f"{url}/console/tail/stream", headers=headers, timeout=timeout) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("event: stored"):
                seen["stored"] += 1
            elif line.startswith("data: {\"count\""):
                seen["skipped"] += json.loads(line.removeprefix("data: "))["count"]
            elif line.startswith("id: "):
                seen["messages"] += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
