"""The HTTP service: the scoring engine behind a versioned JSON API (Litestar, msgspec, SQLAlchemy)."""
