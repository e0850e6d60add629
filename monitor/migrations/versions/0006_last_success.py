"""Each page's last successful check, for operators' metrics.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

* `page.last_success_at`: the start of the page's last check whose fetch got the page (any
  status but `failed`; a re-extraction fetches nothing). `last_checked_at` moves on every
  check, failed or not, so it cannot say how long a failing page has gone unseen. Filled from
  the `check` table for existing pages.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The statuses of checks that fetched the page (monitor.store.FETCHED); a literal here, as a
# migration must keep meaning what it meant when it was written.
_FETCHED = ("baseline", "unchanged", "not_modified", "changed", "unconfirmed", "raced")


def upgrade() -> None:
    op.add_column("page", sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
    statuses = ", ".join(f"'{status}'" for status in _FETCHED)
    op.execute(
        'UPDATE page SET last_success_at = (SELECT max(c.started_at) FROM "check" c '
        f"WHERE c.page_id = page.id AND c.status IN ({statuses}))"
    )


def downgrade() -> None:
    with op.batch_alter_table("page") as batch:
        batch.drop_column("last_success_at")
