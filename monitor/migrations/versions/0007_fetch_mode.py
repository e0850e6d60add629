"""How a page was fetched: plainly or rendered in a browser.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

* `snapshot.fetch_mode`: 'plain' (the HTTP body) or 'browser' (the DOM after the page's
  scripts ran). Every existing snapshot was fetched plainly.
* `page.fetch_mode`: how the last good check had the page; for `fetch = "auto"` the
  remembered choice (monitor.fetchmode). NULL: not yet known.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("fetch_mode", sa.String(16), nullable=False, server_default="plain"))
    with op.batch_alter_table("page") as batch:
        batch.add_column(sa.Column("fetch_mode", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page") as batch:
        batch.drop_column("fetch_mode")
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("fetch_mode")
