"""The channel-independent conversation: messages, dialogue state, safety triage, language.

Nothing in this package imports Rasa, Starlette or python-telegram-bot: channels and the NLU adapter
plug in from outside, so the conversation can be tested and reasoned about on its own.
"""
