"""History from web-archive captures (import-archive).

Revision ID: 0005
Revises: 0003
Create Date: 2026-01-05

* `snapshot.source`, `event.origin`, `event.source`: an archived version or event says where
  it came from (origin 'archive' and the capture's address); existing events are live ones.
* `page.archive_until`, `page.archive_pending`: the import's progress, so a killed import
  resumes after the last capture it recorded, in the state it had there.
* `ix_snapshot_live`: a partial index on live (non-archive) snapshots. Archived snapshots
  come before live ones in time even when their ids are larger (an import that ran after
  live checks began), so a page's latest snapshot is its newest live one: one index lookup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("origin <> 'archive'")


def upgrade() -> None:
    with op.batch_alter_table("page") as batch:
        batch.add_column(sa.Column("archive_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("archive_pending", sa.String(), nullable=True))
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="fetch"))
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))
    op.create_index("ix_snapshot_live", "snapshot", ["page_id", "id"], sqlite_where=_LIVE, postgresql_where=_LIVE)


def downgrade() -> None:
    op.drop_index("ix_snapshot_live", table_name="snapshot")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("source")
        batch.drop_column("origin")
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("page") as batch:
        batch.drop_column("archive_pending")
        batch.drop_column("archive_until")
