"""Alembic migrations, shipped inside the package and run by `monitor.migrate.upgrade`."""
