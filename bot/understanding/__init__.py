"""Language understanding: training with Rasa (cached by data hash), parsing without it.

`training` is the only module that imports Rasa, and only when a model is trained. Serving reads the
trained archive directly (`archive`, `weights`, `model`) and parses with `linear.LinearUnderstanding`,
which the engine sees through `bot.engine.understanding`.
"""
