"""What each snapshot says: per-jurisdiction statements for the status board; event context and
relevant sentences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

* `statement`: one row per snapshot and jurisdiction the text speaks of (paused, lifted, or a
  removed statement: unspecified), with the quote, the context that named the jurisdiction and
  since when the state holds (carried over from snapshot to snapshot).
* `snapshot.statements_sig`: the classifier version that made those rows.
* `event.context`, `event.relevant`: where an unnamed jurisdiction came from; the sentences about
  government data requests that a change added or removed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("statements_sig", sa.String(16), nullable=True))
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))
        batch.add_column(sa.Column("relevant", sa.Text(), nullable=True))
    op.create_table(
        "statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(100), nullable=False),
        sa.Column("jurisdiction", sa.String(8), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(40), nullable=True),
        sa.Column("evidence", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("since_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("since_event_id", sa.Integer(), nullable=True),
        sa.Column("since_snapshot_id", sa.Integer(), nullable=True),
        sa.Column("since_baseline", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"]),
        sa.ForeignKeyConstraint(["since_event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["since_snapshot_id"], ["snapshot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_statement_snapshot_id", "statement", ["snapshot_id"])


def downgrade() -> None:
    op.drop_index("ix_statement_snapshot_id", table_name="statement")
    op.drop_table("statement")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("relevant")
        batch.drop_column("context")
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("statements_sig")
