"""Lotse: a multilingual assistant for refugees that answers from curated content.

The package is split so that transport stays at the edge: `bot.engine` holds the conversation and
knows nothing of Rasa, Telegram or the web; adapters in `bot.understanding`, `bot.channels` and
`bot.console` plug into it.
"""

__version__ = "0.1.0"
