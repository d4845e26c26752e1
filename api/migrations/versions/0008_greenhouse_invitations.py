"""Greenhouse invitations: the candidate's link, drafts, and the mail, scoring and callback outboxes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "greenhouse_invitations"


def _utc(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("rubric_id", sa.String(length=64), nullable=False),
        sa.Column("rubric_version", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("candidate_id", sa.String(length=200), nullable=False),
        sa.Column("application_id", sa.String(length=200), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("profile_url", sa.Text(), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("callback_credential", sa.LargeBinary(), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("draft", sa.LargeBinary(), nullable=True),
        sa.Column("screening_id", sa.String(length=40), nullable=True),
        _utc("review_requested_at"),
        _utc("expires_at", nullable=False),
        _utc("submitted_at"),
        sa.Column("mail_attempts", sa.Integer(), nullable=False),
        _utc("mail_next_at"),
        sa.Column("mail_error", sa.Text(), nullable=True),
        _utc("mail_sent_at"),
        sa.Column("score_attempts", sa.Integer(), nullable=False),
        _utc("score_next_at"),
        sa.Column("score_error", sa.Text(), nullable=True),
        sa.Column("callback_attempts", sa.Integer(), nullable=False),
        _utc("callback_next_at"),
        sa.Column("callback_error", sa.Text(), nullable=True),
        _utc("callback_done_at"),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_greenhouse_invitations")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_greenhouse_invitations_token_sha256")),
        sa.UniqueConstraint(
            "org_id", "rubric_id", "email", "application_id", name="uq_greenhouse_invitations_org_rubric_email_app"
        ),
    )
    op.create_index("ix_greenhouse_invitations_org_candidate", TABLE, ["org_id", "candidate_id"])
    op.create_index("ix_greenhouse_invitations_mail_next_at", TABLE, ["mail_next_at"])
    op.create_index("ix_greenhouse_invitations_score_next_at", TABLE, ["score_next_at"])
    op.create_index("ix_greenhouse_invitations_callback_next_at", TABLE, ["callback_next_at"])


def downgrade() -> None:
    """Revert."""
    op.drop_table(TABLE)
