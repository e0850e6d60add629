"""Every error policy-monitor raises on purpose, as one tree.

    MonitorError                 the root: `policy-monitor` prints it as one line (cli.main)
    ├── ConfigError              a config that cannot be used; `problems`: one line each (exit 2)
    ├── UsageError               bad usage: unknown page id, bad argument (exit 2)
    ├── StoreError               the database cannot be used: locked, read-only, full, unreachable
    ├── MigrationError           the schema cannot be brought up to date (the store reports it as a StoreError)
    ├── PageError                one check of one page failed; recorded as a `failed` check
    │   ├── FetchError           the page could not be had (HTTP status, network, browser, limits)
    │   ├── ExtractError         the body cannot be turned into text
    │   └── WorkBudgetExceeded   the check spent its CPU budget (work_budget)
    ├── SourceUnavailable        a check's source itself cannot go on, not just the page
    │   └── ArchiveError         the web archive keeps failing (import-archive)
    └── SendError                an alert that could not be sent (message already redacted)

Library errors are translated where the library is used, once: requests' and urllib3's in
monitor.fetch (FetchError), the browser's in monitor.browser (FetchError), lxml's and pypdf's in
monitor.extract (ExtractError), SQLAlchemy's in monitor.store.engine (StoreError), Alembic's in
monitor.migrate (MigrationError), Apprise's in monitor.alerts (SendError).

`exit_status` is what the command line exits with when the error ends a command. The classes
are re-exported where they were first defined (monitor.fetch.FetchError and so on), so either
import works.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # the command line's exit statuses (docs/design.md)


class MonitorError(Exception):
    """The root of policy-monitor's own errors; the message is one line a person can act on."""

    exit_status = EXIT_FAILED
    headline = ""  # what the command line says before the message ("database error")


class ConfigError(MonitorError):
    """A config that cannot be used; `problems` holds one human line per problem."""

    exit_status = EXIT_USAGE

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class UsageError(MonitorError):
    """Bad usage (unknown page id, bad argument): exit status 2."""

    exit_status = EXIT_USAGE


class StoreError(MonitorError):
    """The database cannot be used (locked, read-only, full, unreachable)."""

    headline = "database error"


class MigrationError(MonitorError):
    """The schema cannot be brought up to date (unknown revision, foreign tables)."""


class PageError(MonitorError):
    """One check of one page failed for a reason the page (or its server) gave: the check is
    recorded as failed with this message, and the other pages go on."""


class FetchError(PageError):
    """The page could not be fetched. `http_status` when the server answered; `retryable` when
    trying again soon may help (and `retry_after`, seconds, when the server said when)."""

    def __init__(self, reason: str, *, http_status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def gone(self) -> bool:
        return self.http_status in (404, 410)


class ExtractError(PageError):
    """The body cannot be turned into text; the message names the problem."""


class WorkBudgetExceeded(PageError):
    """The check spent its work budget; the message names the budget and the stage."""

    def __init__(self, seconds: float, stage: str):
        super().__init__(f"work budget exceeded: more than {seconds:g}s of CPU time (work_budget) in {stage}")
        self.seconds = seconds
        self.stage = stage


class SourceUnavailable(MonitorError):
    """Raised by a source's fetch when the source itself cannot go on (an archive that keeps
    failing), not the page: the check records nothing and the caller stops."""


class ArchiveError(SourceUnavailable):
    """The archive cannot be used now (its listing failed, or 429/5xx went on past the backoff).
    The page's import stops where it is; a later run resumes there."""


class SendError(MonitorError):
    """A send that failed; the message is already redacted."""
