"""Rasa NLU adapter: training (cached by data hash), loading and parsing.

This is the only package that imports Rasa; the engine sees it through `bot.engine.understanding`.
"""
