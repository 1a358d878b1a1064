"""The guards a follow-up must pass before it is dialled, decided when it is claimed.

The store runs :func:`refusal` inside the transaction that marks intents ``sending``, with
the counts it read under that transaction's locks, so two senders can never both find room
for one more call to the same number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FollowUpGuards:
    """Limits checked when an intent is claimed; a refusal is recorded on the intent."""

    max_per_number: int = 3  # calls to one number per window
    max_depth: int = 2  # follow-ups of follow-ups
    window_seconds: float = 86_400.0

    def refusal(self, *, listed: bool, depth: int, recent_calls: int) -> str | None:
        """Why an intent may not be dialled (``do_not_call``, ``depth``, ``cap``), or None.

        ``listed``: its number is on the do-not-call list; ``recent_calls``: the other calls
        to the same number within the window.
        """
        if listed:
            return "do_not_call"
        if depth > self.max_depth:
            return "depth"
        if recent_calls >= self.max_per_number:
            return "cap"
        return None
