"""Load and validate the TOML config into typed models.

Every problem is reported at once, one line each, naming the page and the key, so a user
fixing a config does not play whack-a-mole. Unknown keys are errors (typos must not be
silently ignored: a misspelt `ignore` would otherwise turn into alert noise).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG = "config/monitor.toml"
EVENT_KINDS = ("changed", "pause_started", "pause_lifted", "page_gone", "page_restored")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PAGE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# The id of a document followed from a page (monitor.documents.document_page_id).
DOCUMENT_ID = re.compile(r"\.doc-[0-9a-f]{12}$")


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one human line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_duration(value: Any) -> float:
    """'90s', '15m', '6h', '1d' (or a bare number of seconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. '90s', '15m', '6h', '1d')")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


def expand_env(text: str) -> str:
    """Replace ${VAR} by the environment's value; a missing variable is an error."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable ${{{name}}} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, text)


def _check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorSettings(_Strict):
    database: str = "sqlite:///monitor.db"
    interval: Duration = 6 * 3600
    jitter: Duration = 300
    timeout: float = Field(30, gt=0, description="connect and read timeout, seconds")
    deadline: Duration = Field(120, gt=0, description="total time one fetch may take")
    max_bytes: int = Field(10_000_000, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    retries: int = Field(2, ge=0, le=10)
    retry_after_cap: Duration = 120
    user_agent: str = "policy-monitor/0.1 (+https://github.com/policy-monitor)"
    # true: fetch any address; false: public addresses only; a list of networks: those too.
    allow_private_addresses: bool | list[str] = False
    workers: int = Field(4, ge=1, le=64)
    # Soft failures: a new text this much shorter than the last one is re-fetched to confirm.
    confirm_shrink: float = Field(0.5, ge=0, le=1)
    # Which changes need a second fetch that agrees: "shrink" (those above), "always" (pages
    # that flip between variants), "never".
    confirm: str = Field("shrink", pattern="^(shrink|always|never)$")
    confirm_delay: Duration = 2
    # page_gone after this many consecutive 404/410 or failed checks.
    gone_after: int = Field(3, ge=1)
    alert_retry_for: Duration = 24 * 3600
    alert_interval: Duration = 5
    lease: Duration = 600
    log_format: str = Field("text", pattern="^(text|json)$")

    @field_validator("allow_private_addresses")
    @classmethod
    def _networks(cls, value: bool | list[str]) -> bool | list[str]:
        import ipaddress

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
            raise ValueError(f"unsupported database URL {value!r} (use sqlite:///PATH or postgresql+psycopg://...)")
        return value


class AlertSink(_Strict):
    url: str
    kinds: list[str] | None = None
    name: str | None = None

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
        """Stable identity of the sink for the outbox; never contains the secret URL."""
        import hashlib

        return self.name or "sink-" + hashlib.sha256(self.url.encode()).hexdigest()[:12]

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


class PageConfig(_Strict):
    id: str
    company: str
    url: str
    interval: Duration | None = None
    jitter: Duration | None = None
    select: list[str] = []
    remove: list[str] = []
    ignore: list[str] = []
    type: str = Field("auto", pattern="^(auto|html|pdf|text)$")
    confirm_shrink: float | None = Field(None, ge=0, le=1)
    confirm: str | None = Field(None, pattern="^(shrink|always|never)$")
    enabled: bool = True
    # "documents": links to documents (PDF, and links matching `follow` patterns) become lines
    # of the normalized text, so a new or moved report is a change (monitor.documents).
    links: str = Field("none", pattern="^(none|documents)$")
    # true: check each document link as its own page after this one; a regex or a list of
    # them: links whose absolute URL matches are documents too, and are checked as well.
    follow: bool | str | list[str] = False
    # At most this many document links are checked per check of the page (0: list them only).
    # Each is a fetch with its own deadline, so a check of the page takes at most this many more.
    follow_max: int = Field(5, ge=0, le=20)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _PAGE_ID.match(value):
            raise ValueError(f"page id {value!r} must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("select", "remove")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        from cssselect import SelectorError
        from lxml.cssselect import CSSSelector

        for selector in value:
            try:
                CSSSelector(selector)
            except (SelectorError, SyntaxError) as exc:
                raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None
        return value

    @field_validator("ignore")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _check_regex(pattern)
        return value

    @field_validator("follow")
    @classmethod
    def _follow(cls, value: bool | str | list[str]) -> bool | str | list[str]:
        patterns = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for pattern in patterns:
            if not pattern:
                raise ValueError("an empty pattern would match every link")
            _check_regex(pattern)
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


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


class ReportSettings(_Strict):
    out: str


class Config(_Strict):
    monitor: MonitorSettings = MonitorSettings()
    alerts: list[AlertSink] = []
    pages: list[PageConfig] = []
    report: ReportSettings | None = None
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
    return config.model_copy(update={"monitor": config.monitor.model_copy(update={"database": database})})


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
