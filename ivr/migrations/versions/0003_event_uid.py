"""Journal events written at most once: each carries the request it came from.

The worker may write a spooled request again after a crash between the database's commit and
the spool's delete, and a replayed request may reach any instance: ``uid`` (the request's
fingerprint and the event's index in it) makes the second write a no-op.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_events") as table:
        table.add_column(sa.Column("uid", sa.String(72)))
        table.create_index("ux_call_events_uid", ["uid"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("call_events") as table:
        table.drop_index("ux_call_events_uid")
        table.drop_column("uid")
