"""Erasure deletes rows: remove the tombstones left by the earlier erasure, which only nulled them.

Their audit logs (each ends with an ``erased`` entry) stay, and keep their ids answering 410.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ERASED = "SELECT id FROM screenings WHERE status = 'erased'"


def upgrade() -> None:
    """Apply (children first: SQLite may run without foreign-key enforcement here)."""
    for table in ("model_results", "reviews", "idempotency_keys"):
        op.execute(f"DELETE FROM {table} WHERE screening_id IN ({ERASED})")
    op.execute("DELETE FROM screenings WHERE status = 'erased'")


def downgrade() -> None:
    """Nothing to restore: erased data is gone by design."""
