"""Feeds per company and jurisdiction; the address each snapshot's body came from.

Revision ID: 0009
Revises: 0007
Create Date: 2026-02-01

* `ix_event_company_id`, `ix_event_jurisdiction_id`: the report writes one Atom feed per
  company and per jurisdiction, each capped at its latest entries; these indexes find those
  entries (and count them, for the archive documents) without reading the whole event table.
* `snapshot.url`: the address the raw body was fetched from after redirects, so that
  `reextract` resolves relative document links as the check did (`links = "documents"`).
  NULL for snapshots recorded before this revision: they resolve against the page's URL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_event_company_id", "event", ["company", "id"])
    op.create_index("ix_event_jurisdiction_id", "event", ["jurisdiction", "id"])
    op.add_column("snapshot", sa.Column("url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("url")
    op.drop_index("ix_event_jurisdiction_id", table_name="event")
    op.drop_index("ix_event_company_id", table_name="event")
