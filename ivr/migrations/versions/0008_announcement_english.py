"""An announcement's English text (issue 18): ``announcements.text_en``.

Nullable: an announcement without one (all those written before) is said to an English caller
in French, with the French voice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("text_en", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("text_en")
