"""The ASGI application `lotse serve` runs: web chat, health, channel webhooks (and later the console)."""
