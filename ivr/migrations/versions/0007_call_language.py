"""The caller's language (issue 18): ``calls.language`` and ``voicemails.language``.

Both nullable: rows written before English existed, or without a language note, are read as
the line's first language (fr-CA).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("language", sa.String(8)))
    with op.batch_alter_table("voicemails") as batch:
        batch.add_column(sa.Column("language", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("voicemails") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("language")
