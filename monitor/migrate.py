"""Schema creation and upgrades."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from monitor import models  # noqa: F401  (registers the tables)


def upgrade(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
