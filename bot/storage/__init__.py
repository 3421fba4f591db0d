"""Persistence: SQLAlchemy 1.4 (2.0 style, async), Alembic migrations, repositories."""
