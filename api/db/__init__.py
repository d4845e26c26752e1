"""Persistence: SQLAlchemy models, the async engine, migrations and repository functions."""
