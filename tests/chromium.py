"""Tests that render pages need Chromium (Debian's `chromium-headless-shell` and `chromium` packages;
`.ci/run` installs both).

Missing: the test is skipped with the reason, except under CI=true, where a missing browser is
a broken CI setup and the test fails (as tests/pg.py does for PostgreSQL).
"""

from __future__ import annotations

import os

import pytest

from monitor.browser import missing_reason


def require_chromium() -> None:
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(f"cannot render pages here: {reason}")


@pytest.fixture
def chromium() -> None:
    require_chromium()
