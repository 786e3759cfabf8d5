"""Alembic environment: migrations run on the connection ``ivr db upgrade`` hands over."""

from __future__ import annotations

from alembic import context

import ivr.admin.models  # noqa: F401  (the console's tables, in Base.metadata too)
import ivr.overrides_store  # noqa: F401  (announcements, schedule changes, their audit)
from ivr.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
