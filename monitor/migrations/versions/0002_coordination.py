"""Several `run` processes on one database: a worker table and one change per predecessor.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

* `worker`: each `run` process heartbeats its row (host:pid, start, last seen, checks done),
  so `policy-monitor pages` can show who shares the database and whether they are alive.
* `uq_change_previous_snapshot`: a snapshot has at most one successor change, so two
  processes that raced on the same page can never both record "the" change from it; the
  database refuses the second even if application-level locking had a bug.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("uq_change_previous_snapshot", "change", ["previous_snapshot_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_change_previous_snapshot", table_name="change")
    op.drop_table("worker")
