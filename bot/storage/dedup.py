"""The inbox's deduplication key: what remains of a message's identity once it is processed.

Exactly-once processing needs to recognise a redelivered update, which takes only equality of keys,
never the identity itself. A WhatsApp message id (`wamid.…`) embeds the sender's phone number and
the web chat's key starts with the browser's chat id, so the inbox stores a salted SHA-256 of
(channel, identity) instead. The salt is random per database (table `inbox_salt`, made by the
migration): all workers sharing a database agree on it, and a key cannot be matched against
identities computed elsewhere without it.
"""

from __future__ import annotations

import hashlib
import hmac


def dedup_key(salt: str, channel: str, external_id: str) -> str:
    """64 hex characters; HMAC-SHA256 keyed with the database's salt."""
    message = f"{channel}\x00{external_id}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()
