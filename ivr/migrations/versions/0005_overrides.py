"""The day's changes (issue 17): announcements, temporary closures and openings of a team, and
their audit (who changed what, when, through what, from where).

Nothing is ever removed for good: a deleted entry keeps its row (``deleted_at``), and the audit
keeps what it said.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _who_and_when() -> list[sa.Column]:
    return [
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("audio_url", sa.Text()),
        sa.Column("then", sa.String(128), nullable=False),
        *_who_and_when(),
    )
    op.create_index("ix_announcements_ends_at", "announcements", ["ends_at"])
    op.create_table(
        "schedule_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_who_and_when(),
    )
    op.create_index("ix_schedule_changes_ends_at", "schedule_changes", ["ends_at"])
    op.create_table(
        "override_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("source", sa.String(128)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_index("ix_override_audit_at", "override_audit", ["at"])


def downgrade() -> None:
    op.drop_table("override_audit")
    op.drop_table("schedule_changes")
    op.drop_table("announcements")
