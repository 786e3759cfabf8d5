"""Voicemails, call journal and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "voicemails",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recording_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("call_sid", sa.String(64), nullable=False, index=True),
        sa.Column("box", sa.String(64), nullable=False, index=True),
        sa.Column("node", sa.String(128)),
        sa.Column("caller", sa.String(32)),
        sa.Column("path", sa.Text()),
        _when("received_at", nullable=False),
        sa.Column("recording_url", sa.Text()),
        sa.Column("duration", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("handled_by", sa.String(128)),
        _when("handled_at"),
        _when("notified_at"),
        _when("deleted_at_twilio"),
    )
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        _when("started_at", nullable=False),
        sa.Column("caller", sa.String(32)),
        sa.Column("branch", sa.String(128)),
        sa.Column("last_node", sa.String(128)),
        sa.Column("destination", sa.String(64)),
        sa.Column("outcome", sa.String(32)),
        _when("ended_at"),
        sa.Column("duration", sa.Integer()),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(64),
                  sa.ForeignKey("calls.call_sid", ondelete="CASCADE"), nullable=False),
        _when("at", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("node", sa.String(128)),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_call_events_call_at", "call_events", ["call_sid", "at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(256), nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at", nullable=False),
        sa.Column("last_error", sa.Text()),
        _when("created_at", nullable=False),
        _when("sent_at"),
        sa.Column("external_id", sa.String(64)),
    )
    op.create_index("ix_outbox_next_attempt_at", "outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("voicemails")
