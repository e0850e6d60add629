"""Alembic migrations, shipped inside the package and run by `monitor.migrate.upgrade`."""

# The newest revision under versions/, so that start-up can tell "nothing to do" without
# importing Alembic. Adding a revision means changing this; tests/test_migrations.py checks.
HEAD = "0009"
