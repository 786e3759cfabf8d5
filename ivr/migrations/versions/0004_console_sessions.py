"""Console sessions kept on the server, and the login-throttle counters.

A session cookie holds a random token; ``admin_sessions`` keeps its SHA-256, so a session ends
for good at logout, at a password change or with « déconnecter partout ».
``admin_login_throttle`` counts login tries per key (source address, account from unknown
browsers, account from one trusted browser), shared by every instance.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(),
                  sa.ForeignKey("admin_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(256)),
    )
    op.create_index("ux_admin_sessions_token_hash", "admin_sessions", ["token_hash"],
                    unique=True)
    op.create_index("ix_admin_sessions_user_id", "admin_sessions", ["user_id"])
    op.create_table(
        "admin_login_throttle",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
    )
    op.create_index("ix_admin_login_throttle_window_start", "admin_login_throttle",
                    ["window_start"])


def downgrade() -> None:
    op.drop_table("admin_login_throttle")
    op.drop_table("admin_sessions")
