"""How a page is fetched: plainly, rendered in a browser, or `auto` (plainly, unless that is a shell).

`fetch_page` is the fetch stage that `monitor.check` calls; what it returns (a plain body or
the rendered DOM, `FetchResult.mode` saying which) goes through the same extract, compare, diff
and classify stages either way.

`auto` fetches plainly first and renders the page when the plain page looks like a shell that
its scripts fill in: its `select` matches nothing, its text is shorter than `auto_min_text`, or
it asks the reader to enable JavaScript. Once a page needed the browser, `auto` remembers it
(the page's `fetch_mode` in the database, shown by `policy-monitor pages`) and renders it
directly from then on; a page that was fine plainly is still looked at on every check, since a
site can move its content into scripts at any time. A new URL forgets the choice.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from monitor.budget import UNLIMITED, Budget
from monitor.config import Config, MonitorSettings, PageConfig
from monitor.extract import ExtractError, Rules, detect_type, extract, noscript_text
from monitor.fetch import FetchError, FetchResult, host_of

# monitor.browser (asyncio, Playwright's glue) is imported only for a page that is rendered.
if TYPE_CHECKING:
    from monitor.browser import RenderOptions
    from monitor.check import Runtime
    from monitor.store import PageState

log = logging.getLogger("monitor.fetchmode")

# What a page says to a reader without JavaScript ("Please enable JavaScript", "This site
# requires JavaScript", "You need to turn on JavaScript to run this app"...).
_JS_NOTICE = re.compile(
    r"\b(?:enable|turn on|activate|allow|switch on)\s+(?:your\s+)?javascript\b"
    r"|\bjavascript\s+(?:is\s+)?(?:required|disabled|turned off|not enabled|must be enabled|needs to be enabled)\b"
    r"|\brequires?\s+javascript\b|\bwithout\s+javascript\b",
    re.I,
)


def same_body(result: FetchResult, state: PageState, rules: Rules) -> bool:
    """The stored body again, under the same rules (and the same base for links): the same text."""
    return result.body_hash == state.raw_hash and state.extract_sig == rules.signature() and (
        rules.links == "none" or state.url == result.url)


def shell_reason(result: FetchResult, rules: Rules, min_text: int,
                 budget: Budget = UNLIMITED) -> tuple[str | None, str | None]:
    """(the plain page's text, why it looks like a shell that scripts fill in, or None).

    Pure: the same body and rules give the same answer; the text is the one `check` would
    extract (links resolved against the page's address, within the check's work budget). Only
    HTML can be a shell; an extraction failure other than "nothing there" is not a shell but the
    page's own problem (raised).
    """
    if detect_type(result.body, result.content_type, rules.type) != "html":
        return None, None
    try:
        text = extract(result.body, content_type=result.content_type, charset=result.charset, rules=rules,
                       budget=budget, url=result.url)
    except ExtractError as exc:
        if "matched nothing" in str(exc) or str(exc) in ("empty body", "no text left after extraction"):
            return None, str(exc)
        raise
    if len(text) < min_text:
        return text, f"only {len(text)} characters of text (auto_min_text is {min_text})"
    notice = _JS_NOTICE.search(text) or _JS_NOTICE.search(noscript_text(result.body, result.charset))
    if notice:
        return text, f"it says {notice.group(0)!r}"
    return text, None


def browser_problems(config: Config) -> tuple[list[str], list[str]]:
    """(errors, warnings) for pages that are rendered when this machine cannot render: a
    `browser` page cannot be checked at all, an `auto` page only while it needs no browser."""
    rendered = [page for page in config.pages if config.fetch_of(page) != "plain"]
    if not rendered:
        return [], []
    from monitor.browser import missing_reason

    reason = missing_reason(config.monitor.browser_path)
    if reason is None:
        return [], []
    errors = [f'page {page.id!r}: fetch = "browser" needs a browser, but {reason}'
              for page in rendered if config.fetch_of(page) == "browser"]
    warnings = [f'page {page.id!r}: fetch = "auto" cannot render the page if it needs that, because {reason}'
                for page in rendered if config.fetch_of(page) == "auto"]
    return errors, warnings


def render_options(settings: MonitorSettings, page: PageConfig) -> RenderOptions:
    from monitor.browser import RenderOptions

    allow = settings.allow_private_addresses
    return RenderOptions(
        deadline=settings.deadline, timeout=settings.timeout, max_bytes=settings.max_bytes,
        allow_private=allow if isinstance(allow, bool) else tuple(allow), user_agent=settings.user_agent,
        wait_for=page.wait_for, storage_key=page.id if page.keep_storage else None,
    )


def fetch_page(rt: Runtime, page: PageConfig, state: PageState, rules: Rules,
               conditional: bool = True, budget: Budget = UNLIMITED) -> FetchResult:
    """The page's body as its `fetch` mode says: plain, rendered, or (auto) whichever it needs.
    An `auto` page whose plain body is the stored one, which was not a shell, is not judged again."""
    settings = rt.config.monitor
    mode = rt.config.fetch_of(page)
    if mode == "browser" or (mode == "auto" and state.fetch_mode == "browser"):
        return _render(rt, page)
    result = rt.fetcher.fetch(
        page.url,
        etag=state.etag if conditional and state.snapshot_id else None,
        last_modified=state.last_modified if conditional and state.snapshot_id else None,
    )
    if mode == "plain" or result.not_modified:
        return result
    if state.fetch_mode == "plain" and same_body(result, state, rules):
        return result
    text, why = shell_reason(result, rules, settings.auto_min_text, budget)
    if why is None:
        result.text = text
        return result
    log.info("%s: the plain page looks like a shell that scripts fill in (%s): rendering it in the browser",
             page.id, why, extra={"page": page.id})
    return _render(rt, page)


def _render(rt: Runtime, page: PageConfig) -> FetchResult:
    # The host's turn (re-entrant) as for a plain fetch: one request at a time per host.
    with rt.fetcher.host_turn(page.url) as mine:
        if not mine:
            raise FetchError(f"timed out waiting for other requests to {host_of(page.url)} to finish")
        return rt.browser.render(page.url, render_options(rt.config.monitor, page))
