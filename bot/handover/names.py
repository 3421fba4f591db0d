"""The German names of handover priorities and reasons, as staff read them in the console and the statistics.

Kept apart from the console's presentation (which needs Starlette) so that the statistics, which
the command line computes too, use the very same words as the queue.
"""

from __future__ import annotations

PRIORITY_NAMES = {0: "Notfall", 1: "Frist", 2: "Normal"}
REASON_NAMES = {
    "user_request": "Wunsch nach einer Person",
    "emergency": "Notfall",
    "deadline": "Frist (Ablehnung)",
    "misunderstanding": "Wiederholtes Missverständnis",
}
