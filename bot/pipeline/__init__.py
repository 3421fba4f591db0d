"""The durable message pipeline: inbox -> engine -> outbox -> channel, surviving crashes."""
