"""Announcements by phone (issue 17): a console account's manager number and PIN.

``phone_id`` is the manager number typed first (unique; not a secret), ``pin_hash`` the PIN's
salted hash (``ivr admin set-pin``), ``pin_set_at`` when it was set. Wrong PINs are counted
in ``admin_login_throttle``, like the console's passwords.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(sa.Column("phone_id", sa.String(8)))
        batch.add_column(sa.Column("pin_hash", sa.String(256)))
        batch.add_column(sa.Column("pin_set_at", sa.DateTime(timezone=True)))
    op.create_index("ux_admin_users_phone_id", "admin_users", ["phone_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_admin_users_phone_id", table_name="admin_users")
    with op.batch_alter_table("admin_users") as batch:
        batch.drop_column("pin_set_at")
        batch.drop_column("pin_hash")
        batch.drop_column("phone_id")
