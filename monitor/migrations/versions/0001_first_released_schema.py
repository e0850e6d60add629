"""The first released schema (what `create_all` made before migrations existed).

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Frozen: this file spells out every column instead of importing `monitor.models`, so later
model changes cannot alter what revision 0001 means. Databases created by the old
`create_all` code have exactly this schema and are stamped 0001 by `monitor.migrate`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    # UTC instants: TIMESTAMP WITH TIME ZONE on PostgreSQL, naive-UTC DATETIME on SQLite.
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "page",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("company", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        _timestamp("last_checked_at"),
        sa.Column("last_status", sa.String(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("last_change_at"),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("pending_hash", sa.String(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _timestamp("claim_expires"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "raw_body",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(100), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=True),
        sa.Column("extract_sig", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.ForeignKeyConstraint(["raw_hash"], ["raw_body.hash"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_snapshot_page_id_id", "snapshot", ["page_id", "id"])
    op.create_table(
        "check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(100), nullable=False),
        _timestamp("started_at", nullable=False),
        _timestamp("finished_at"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_check_page_id_id", "check", ["page_id", "id"])
    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(100), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("previous_snapshot_id", sa.Integer(), nullable=True),
        _timestamp("detected_at", nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("first_line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"]),
        sa.ForeignKeyConstraint(["previous_snapshot_id"], ["snapshot.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_id"),
    )
    op.create_index("ix_change_page_id", "change", ["page_id"])
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(100), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("company", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("jurisdiction", sa.String(8), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("evidence", sa.String(), nullable=True),
        sa.Column("rule", sa.String(), nullable=True),
        _timestamp("detected_at", nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("previous_snapshot_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.ForeignKeyConstraint(["change_id"], ["change.id"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"]),
        sa.ForeignKeyConstraint(["previous_snapshot_id"], ["snapshot.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("change_id", "kind", "jurisdiction", name="uq_event_change_kind_jurisdiction"),
    )
    op.create_index("ix_event_change_id", "event", ["change_id"])
    op.create_index("ix_event_kind", "event", ["kind"])
    op.create_index("ix_event_detected_at", "event", ["detected_at"])
    op.create_index("ix_event_page_id", "event", ["page_id"])
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("next_attempt_at", nullable=False),
        _timestamp("sent_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _timestamp("claim_expires"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "sink", name="uq_delivery_event_sink"),
    )
    op.create_index("ix_delivery_status_next", "delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("delivery", "event", "change", "check", "snapshot", "raw_body", "page"):
        op.drop_table(table)
