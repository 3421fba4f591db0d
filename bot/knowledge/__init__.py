"""Curated content: loading, validation and queries (offers by town, opening hours, teams)."""
