"""Telegram through python-telegram-bot: updates in (webhook or long polling), messages out."""
