"""Screening jobs (asynchronous screenings and batches) and their items, queued in the database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "screening_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("rejected_lines", sa.Integer(), nullable=False),
        sa.Column("problem", sa.LargeBinary(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_by_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_jobs")),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_screening_jobs_org_key"),
    )
    op.create_index("ix_screening_jobs_org_created", "screening_jobs", ["org_id", "created_at", "id"])
    op.create_table(
        "screening_job_items",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("screening_id", sa.String(length=40), nullable=True),
        sa.Column("problem", sa.LargeBinary(), nullable=True),
        sa.Column("dead_letter", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["screening_jobs.id"],
            name=op.f("fk_screening_job_items_job_id_screening_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_screening_job_items")),
        sa.UniqueConstraint("job_id", "line", name="uq_screening_job_items_job_line"),
    )
    op.create_index("ix_screening_job_items_status", "screening_job_items", ["status", "lease_until"])
    op.create_index("ix_screening_job_items_org_candidate", "screening_job_items", ["org_id", "candidate_id"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_screening_job_items_org_candidate", table_name="screening_job_items")
    op.drop_index("ix_screening_job_items_status", table_name="screening_job_items")
    op.drop_table("screening_job_items")
    op.drop_index("ix_screening_jobs_org_created", table_name="screening_jobs")
    op.drop_table("screening_jobs")
