"""Fakes of the external services Lotse talks to, served over real HTTP so that the real clients run."""
