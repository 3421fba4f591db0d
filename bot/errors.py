"""The root of Lotse's exception hierarchy.

Each package derives its own errors from `LotseError`, so that the CLI and the server can tell
"our mistake, with a message meant for a person" from a bug.
"""

from __future__ import annotations


class LotseError(Exception):
    """An error whose message is meant for the person running Lotse."""
