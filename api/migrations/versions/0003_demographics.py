"""Demographic self-identification, per organisation and candidate, apart from answers and reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "demographics",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("candidate_id", sa.String(length=200), nullable=False),
        sa.Column("sex", sa.String(length=40), nullable=True),
        sa.Column("race_ethnicity", sa.String(length=60), nullable=True),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "candidate_id", name=op.f("pk_demographics")),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("demographics")
