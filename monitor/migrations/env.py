"""Alembic environment, configured programmatically by `monitor.migrate` (no alembic.ini at run time).

`monitor.migrate` hands over a connection that already holds the migration lock and an open
transaction; Alembic then runs inside that transaction, and the caller commits. The
`alembic` command line (developers: `alembic -c alembic.ini revision --autogenerate`) has no
connection and opens one from `sqlalchemy.url`.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from monitor import models  # noqa: F401  (registers the tables, for autogenerate)

config = context.config
target_metadata = SQLModel.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from monitor.store import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
