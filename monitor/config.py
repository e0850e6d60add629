"""Load and validate the TOML config into typed models.

Every problem is reported at once, one line each, naming the page and the key, so a user
fixing a config does not play whack-a-mole. Unknown keys are errors (typos must not be
silently ignored: a misspelt `ignore` would otherwise turn into alert noise).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.vocabulary import EVENT_KINDS

DEFAULT_CONFIG = "config/monitor.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PAGE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
FETCH_MODES = "^(plain|browser|auto)$"
# The id of a document followed from a page (monitor.documents.document_page_id).
DOCUMENT_ID = re.compile(r"\.doc-[0-9a-f]{12}$")


def parse_duration(value: Any) -> float:
    """'90s', '15m', '6h', '1d' (or a bare number of seconds) -> seconds, finite and not negative."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. '90s', '15m', '6h', '1d')")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):  # TOML has nan and inf; a scheduler or a timer fed them crashes or spins
        raise ValueError(f"not a finite duration: {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _within(low: float, high: float) -> Callable[[float], float]:
    def check(seconds: float) -> float:
        if not low <= seconds <= high:
            raise ValueError(f"must be between {format_duration(low)} and {format_duration(high)}, "
                             f"got {format_duration(seconds)}")
        return seconds

    return check


def duration(low: float, high: float) -> Any:
    """A duration key (a number of seconds or '90s', '15m', ...) bounded to [low, high]."""
    return Annotated[float, BeforeValidator(parse_duration), AfterValidator(_within(low, high))]


_DAY = 86400.0
Duration = duration(0, 365 * _DAY)  # any duration key without tighter bounds of its own
# The smallest values still let tests run short intervals against loopback servers.
Interval = duration(1, 365 * _DAY)
Jitter = duration(0, 7 * _DAY)
Timeout = duration(1, 600)
Deadline = duration(1, 3600)
RetryAfterCap = duration(0, _DAY)
ConfirmDelay = duration(0, 600)
RetryFor = duration(0, 30 * _DAY)
AlertInterval = duration(1, 3600)
Lease = duration(1, _DAY)
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
MAX_BYTES_LIMIT = 1 << 30  # a body is held in memory: a policy page of a gigabyte is a mistake
FOLLOW_MAX_LIMIT = 20  # documents checked per check of a page, at most


def expand_env(text: str) -> str:
    """Replace ${VAR} by the environment's value; a missing variable is an error.

    Every value expanded is a secret from then on (masked in logs, errors and output), whatever
    it looks like: an ntfy topic or a short password is no less secret than a long token.
    """
    from monitor.redact import register_secret

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable ${{{name}}} is not set")
        register_secret(os.environ[name])
        return os.environ[name]

    return _ENV_REF.sub(sub, text)


def _check_selector(selector: str) -> str:
    """A CSS selector extraction can run (monitor.select: no :has() or :contains())."""
    from cssselect import SelectorError

    from monitor.select import Selector

    try:
        Selector(selector)  # what extraction runs
    except (SelectorError, SyntaxError) as exc:
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None
    return selector


def check_http_url(url: str) -> str:
    """An http(s) URL the fetcher can request: parseable, with a valid host name (or IP address)
    and port. Returns the URL; raises ValueError saying what is wrong."""
    if any(ord(char) < 32 or ord(char) == 127 for char in url):
        raise ValueError(f"URL contains control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if port == 0:
        raise ValueError(f"port 0 in URL {url!r}")
    problem = host_problem(parts.hostname)
    if problem:
        raise ValueError(f"bad host in URL {url!r}: {problem}")
    return url


_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")


def host_problem(host: str) -> str | None:
    """Why a URL's host name cannot be looked up (None when it can): DNS allows labels of 1-63
    characters and 253 in all; non-ASCII names must have an IDNA form."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not host.isascii():
        import idna

        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            return f"not a valid internationalized name ({exc})"
    name = host.lower().removesuffix(".")
    if len(name) > 253:
        return f"name longer than 253 characters ({len(name)})"
    for label in name.split("."):
        if not 1 <= len(label) <= 63:
            return f"label {label[:20]!r}{'...' if len(label) > 20 else ''} is {len(label)} characters (1-63 allowed)"
        if not _HOST_LABEL.match(label):
            return f"label {label!r} has characters a host name cannot have"
    return None


def _numeric(annotation: Any) -> bool:
    """int or float, possibly Annotated or optional (not bool, which is an int to Python)."""
    if annotation in (int, float):
        return True
    return any(_numeric(arg) for arg in get_args(annotation) if arg is not type(None))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads `true` as 1 for a number: `max_bytes = true` is a mistake, not one byte
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class MonitorSettings(_Strict):
    database: str = "sqlite:///monitor.db"
    interval: Interval = 6 * 3600
    jitter: Jitter = 300
    timeout: Timeout = Field(30, description="connect and read timeout, seconds")
    deadline: Deadline = Field(120, description="total time one fetch may take")
    max_bytes: int = Field(10_000_000, ge=1, le=MAX_BYTES_LIMIT)
    max_redirects: int = Field(5, ge=0, le=20)
    retries: int = Field(2, ge=0, le=10)
    retry_after_cap: RetryAfterCap = 120
    user_agent: str = "policy-monitor/0.1 (+https://github.com/policy-monitor)"
    # true: fetch any address; false: public addresses only; a list of networks: those too.
    allow_private_addresses: bool | list[str] = False
    workers: int = Field(4, ge=1, le=64)
    # Soft failures: a new text this much shorter than the last one is re-fetched to confirm.
    confirm_shrink: Share = 0.5
    # Which changes need a second fetch that agrees: "shrink" (those above), "always" (pages
    # that flip between variants), "never".
    confirm: str = Field("shrink", pattern="^(shrink|always|never)$")
    confirm_delay: ConfirmDelay = 2
    # page_gone after this many consecutive 404/410 or failed checks.
    gone_after: int = Field(3, ge=1, le=10_000)
    alert_retry_for: RetryFor = 24 * 3600
    alert_interval: AlertInterval = 5
    lease: Lease = 600
    log_format: str = Field("text", pattern="^(text|json)$")
    # How pages are fetched unless they say otherwise (monitor.fetchmode): "plain" (an HTTP GET),
    # "browser" (rendered by headless Chromium) or "auto" (plain, and the browser when the plain
    # page looks like a shell that its scripts fill in).
    fetch: str = Field("plain", pattern=FETCH_MODES)
    # auto: a plain page with less normalized text than this (characters) is taken for a shell.
    auto_min_text: int = Field(200, ge=0)
    # Chromium (or Chrome) to render with; empty: /usr/lib/chromium/chromium, then PATH.
    browser_path: str = ""
    # Pages rendered at once (each a renderer process), and the memory, in MB, that the
    # browser's processes may use together before the biggest renderer is killed.
    browser_renders: int = Field(1, ge=1, le=16)
    browser_memory: int = Field(768, ge=256)
    # CPU time one check may spend after the fetch (extract, diff, classify): past it the check
    # fails, naming the stage. Also per page.
    work_budget: Duration = Field(5, gt=0, le=3600)

    @field_validator("allow_private_addresses")
    @classmethod
    def _networks(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            for net in value:
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    raise ValueError(f"not an IP network: {net!r}") from None
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        value = expand_env(value)
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            from monitor.redact import redact_database_url, register_database_url

            register_database_url(value)
            raise ValueError(f"unsupported database URL {redact_database_url(value)!r} "
                             "(use sqlite:///PATH or postgresql+psycopg://...)")
        return value


class AlertSink(_Strict):
    url: str  # ${VAR} expanded
    kinds: list[str] | None = None
    name: str | None = None
    _written: str = PrivateAttr("")  # the url as the config writes it, ${VAR} references unexpanded

    @model_validator(mode="wrap")
    @classmethod
    def _keep_written(cls, data: Any, handler: ModelWrapValidatorHandler[AlertSink]) -> AlertSink:
        sink = handler(data)
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            sink._written = data["url"]
        return sink

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = expand_env(value)
        if "://" not in value:
            raise ValueError("not an Apprise URL (expected scheme://...)")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str] | None) -> list[str] | None:
        for kind in value or []:
            if kind not in EVENT_KINDS:
                raise ValueError(f"unknown event kind {kind!r} (known: {', '.join(EVENT_KINDS)})")
        return value

    @property
    def key(self) -> str:
        """Stable identity of the sink for the outbox (stored, listed, logged). Derived from the
        URL as written: a short hash of a URL holding a short secret (an ntfy topic) could be
        reversed by trying candidates, and a rotated secret keeps the sink's pending alerts."""
        return self.name or _sink_hash(self._written or self.url)

    @property
    def keys(self) -> tuple[str, ...]:
        """`key`, then the key earlier versions gave a sink whose URL uses ${VAR} (a hash of the
        expanded URL), so outbox rows recorded under it are still sent."""
        earlier = _sink_hash(self.url)
        return (self.key,) if self.name or earlier == self.key else (self.key, earlier)

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


def _sink_hash(url: str) -> str:
    import hashlib

    return "sink-" + hashlib.sha256(url.encode()).hexdigest()[:12]


class PageConfig(_Strict):
    id: str
    company: str
    url: str
    interval: Interval | None = None
    jitter: Jitter | None = None
    select: list[str] = []
    remove: list[str] = []
    ignore: list[str] = []
    type: str = Field("auto", pattern="^(auto|html|pdf|text)$")
    confirm_shrink: Share | None = None
    confirm: str | None = Field(None, pattern="^(shrink|always|never)$")
    work_budget: Duration | None = Field(None, gt=0, le=3600)
    enabled: bool = True
    fetch: str | None = Field(None, pattern=FETCH_MODES)
    # Rendered pages: wait until an element matching this CSS selector is in the page, instead
    # of waiting for the page to settle (for pages that never stop talking to their servers).
    wait_for: str | None = None
    # Rendered pages: carry cookies and local storage from one check to the next (in memory,
    # for the life of the process); by default every check starts as a first-time visitor.
    keep_storage: bool = False
    # "documents": links to documents (PDF, and links matching `follow` patterns) become lines
    # of the normalized text, so a new or moved report is a change (monitor.documents).
    links: str = Field("none", pattern="^(none|documents)$")
    # true: check each document link as its own page after this one; a regex or a list of
    # them: links whose absolute URL matches are documents too, and are checked as well.
    follow: bool | str | list[str] = False
    # At most this many document links are checked per check of the page (0: list them only).
    # Each is a fetch with its own deadline, so a check of the page takes at most this many more.
    follow_max: int = Field(5, ge=0, le=FOLLOW_MAX_LIMIT)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _PAGE_ID.match(value):
            raise ValueError(f"page id {value!r} must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("select", "remove")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            _check_selector(selector)
        return value

    @field_validator("wait_for")
    @classmethod
    def _wait_for(cls, value: str | None) -> str | None:
        return _check_selector(value) if value is not None else None

    @field_validator("ignore")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        from monitor.regex import check_pattern

        for pattern in value:
            check_pattern(pattern, "ignore")  # what extraction runs them with: RE2
        return value

    @field_validator("follow")
    @classmethod
    def _follow(cls, value: bool | str | list[str]) -> bool | str | list[str]:
        from monitor.regex import check_pattern

        patterns = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for pattern in patterns:
            if not pattern:
                raise ValueError("an empty pattern would match every link")
            check_pattern(pattern, "follow")  # what monitor.documents runs them with: RE2
        return value

    @property
    def follow_patterns(self) -> tuple[str, ...]:
        """The `follow` regexes (none for `follow = true` / `false`)."""
        if isinstance(self.follow, str):
            return (self.follow,)
        return tuple(self.follow) if isinstance(self.follow, list) else ()

    @property
    def follows(self) -> bool:
        """Whether a check of this page also checks its document links (up to `follow_max`)."""
        return self.follow is not False and self.follow != [] and self.follow_max > 0


class ReportSettings(_Strict):
    out: str


class ArchiveSettings(_Strict):
    """Where `import-archive` finds captures: a Wayback Machine (CDX API and raw captures)."""

    url: str = "https://web.archive.org"
    rate: float = Field(1.0, gt=0, le=100, description="requests per second to the archive, at most")
    # First wait after the archive answers 429 or 5xx (or the connection fails); doubled on each
    # further failure. A Retry-After header asking for longer is honoured up to retry_after_cap.
    backoff: Duration = Field(30, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value).rstrip("/")


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464', 'localhost:9464' -> (host, port); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not HOST:PORT: {value!r} (e.g. '127.0.0.1:9464', '[::1]:9464')")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets: {value!r} (e.g. '[::1]:9464')")
    return host, int(port)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it could resolve anywhere


class MetricsSettings(_Strict):
    # Defined before `listen`, whose validator reads it.
    allow_remote: bool = False
    listen: str = "127.0.0.1:9464"
    # /healthz says "stalled" when checks are running but none has finished for this long.
    # Default: long enough for the slowest legitimate check (see stall_after_of).
    stall_after: Duration | None = Field(None, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str, info: ValidationInfo) -> str:
        host, _ = parse_listen(value)
        if not is_loopback(host) and not info.data.get("allow_remote"):
            raise ValueError(f"{value!r} is not a loopback address; metrics and health are served on this host "
                             "only unless [metrics] allow_remote = true")
        return value


class Config(_Strict):
    monitor: MonitorSettings = MonitorSettings()
    alerts: list[AlertSink] = []
    pages: list[PageConfig] = []
    report: ReportSettings | None = None
    archive: ArchiveSettings = ArchiveSettings()
    metrics: MetricsSettings | None = None  # off unless the section is there
    path: Path | None = None

    def page(self, page_id: str) -> PageConfig:
        for page in self.pages:
            if page.id == page_id:
                return page
        raise KeyError(page_id)

    def interval_of(self, page: PageConfig) -> float:
        return page.interval if page.interval is not None else self.monitor.interval

    def jitter_of(self, page: PageConfig) -> float:
        return page.jitter if page.jitter is not None else self.monitor.jitter

    def stall_after(self) -> float:
        """How long running checks may go without one finishing before /healthz says stalled.

        Some check always holds its host's turn, and it ends within a fetch, a second fetch to
        confirm a change and the database's busy waits: the default is that with room to spare."""
        if self.metrics and self.metrics.stall_after:
            return self.metrics.stall_after
        return 3 * self.monitor.deadline + self.monitor.confirm_delay + 60

    def fetch_of(self, page: PageConfig) -> str:
        return page.fetch or self.monitor.fetch

    def work_budget_of(self, page: PageConfig) -> float:
        return page.work_budget if page.work_budget is not None else self.monitor.work_budget


def default_config_path() -> Path:
    return Path(os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG)


def _describe(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """('pages', 3, 'select', 0) -> "page 'zoom' (pages[3]): key 'select'"."""
    if len(loc) >= 2 and loc[0] in ("pages", "alerts") and isinstance(loc[1], int):
        section, index = loc[0], loc[1]
        items = raw.get(section) or []
        item = items[index] if index < len(items) and isinstance(items[index], dict) else {}
        rest = [str(part) for part in loc[2:] if not isinstance(part, int)]
        who = f"page {item['id']!r} ({section}[{index}])" if section == "pages" and "id" in item else (
            f"{section}[{index}]"
        )
        return f"{who}: key {'.'.join(rest)!r}" if rest else who
    return "key " + repr(".".join(str(part) for part in loc))


def resolve_database(url: str, config_path: Path | None) -> str:
    """A relative sqlite path is relative to the config file, not the working directory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or config_path is None:
        return url
    path = url[len(prefix):]
    if path.startswith("/") or path == ":memory:" or not path:
        return url
    return prefix + str((config_path.parent / path).resolve())


def parse_config(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document; raises ConfigError listing every problem."""
    problems: list[str] = []
    if "path" in raw:  # set by the loader (the file's own location): not a key a config can give
        raise ConfigError(["key 'path': unknown key"])
    try:
        config = Config.model_validate({**raw, "path": path})
    except ValidationError as exc:
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{_describe(tuple(error['loc']), raw)}: {message}")
        raise ConfigError(problems) from None
    seen: dict[str, int] = {}
    for index, page in enumerate(config.pages):
        if page.id in seen:
            problems.append(f"page {page.id!r} (pages[{index}]): key 'id': duplicate of pages[{seen[page.id]}]")
        seen.setdefault(page.id, index)
        if config.fetch_of(page) == "plain":
            for key in ("wait_for", "keep_storage"):
                if getattr(page, key):
                    problems.append(f"page {page.id!r} (pages[{index}]): key {key!r}: only used when the page is "
                                    'rendered: set fetch = "browser" or "auto"')
        if DOCUMENT_ID.search(page.id):
            problems.append(f"page {page.id!r} (pages[{index}]): key 'id': ids ending in '.doc-' and 12 hex "
                            "digits are reserved for followed documents")
        if page.follow not in (False, []) and page.links != "documents":
            problems.append(f"page {page.id!r} (pages[{index}]): key 'follow': needs links = \"documents\"")
    names = [sink.key for sink in config.alerts]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(f"alerts[{index}]: key 'name': duplicate sink {name!r}")
    if problems:
        raise ConfigError(problems)
    database = resolve_database(config.monitor.database, path)
    if os.environ.get("MONITOR_DATABASE"):
        database = os.environ["MONITOR_DATABASE"]
    _register_secrets(config, database)
    return config.model_copy(update={"monitor": config.monitor.model_copy(update={"database": database})})


def _register_secrets(config: Config, database: str) -> None:
    """What this config makes secret is masked in everything the process prints or stores from
    now on (values from ${VAR} were registered as they were expanded)."""
    from monitor.redact import register_database_url, register_secret_url

    register_database_url(database)
    for sink in config.alerts:
        register_secret_url(sink.url)


def load_config(path: Path | str | None = None) -> Config:
    path = Path(path) if path is not None else default_config_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    try:
        return parse_config(raw, path.resolve())
    except ConfigError as exc:
        raise ConfigError([f"{path}: {problem}" for problem in exc.problems]) from None
