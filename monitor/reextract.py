"""`policy-monitor reextract`: re-derive normalized text from stored raw bodies.

After a selector or ignore-rule fix, the text the current rules give differs from what was
recorded, and the next check would report that difference as a change nobody made. Instead,
re-extract the latest snapshot's raw body (kept, compressed, for exactly this) with the
current rules and record the result as a new baseline snapshot with origin 'reextract': no
change row, no event, no delivery. The next check then compares like with like.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from monitor.classify import rules_version
from monitor.classify import state as text_state
from monitor.diff import diff_lines, stats
from monitor.extract import ExtractError, Rules, extract
from monitor.fetch import _content_type as split_content_type
from monitor.models import utcnow
from monitor.status import said_of
from monitor.store import CheckRecord, StoreError, Version, sha256
from monitor.terminal import printable
from monitor.vocabulary import CheckStatus

if TYPE_CHECKING:
    from monitor.check import Runtime

log = logging.getLogger("monitor.reextract")


def reextract_page(rt: Runtime, page_id: str) -> tuple[bool, str]:
    """Re-extract one page; (ok, what happened) for the user."""
    page = rt.config.page(page_id)
    state = rt.store.page_state(page_id)
    if state.snapshot_id is None:
        return True, "no snapshot yet; nothing to re-extract"
    snap = rt.store.snapshot(state.snapshot_id)
    if snap is None or not snap.raw_hash:
        return False, f"snapshot {state.snapshot_id} has no stored raw body; the next check will set a new baseline"
    stored = rt.store.raw_body(snap.raw_hash)
    if stored is None:
        return False, f"raw body {snap.raw_hash[:12]} of snapshot {snap.id} is missing"
    body, content_type = stored
    mime, charset = split_content_type(content_type)
    rules = Rules.of(page)
    try:
        # Relative document links resolve against where the body came from, as in the check.
        text = extract(body, content_type=mime, charset=charset, rules=rules, url=snap.url or page.url)
    except ExtractError as exc:
        return False, f"cannot re-extract snapshot {snap.id} with the current rules: {exc}"
    text_hash = sha256(text)
    if text_hash == snap.text_hash:
        return True, f"text of snapshot {snap.id} is the same under the current rules"
    diff = stats(diff_lines(snap.text, text))
    now = utcnow()
    rec = CheckRecord(
        page_id=page.id, company=page.company, url=page.url, status=CheckStatus.REEXTRACTED,
        started_at=now, finished_at=now, etag=state.etag, last_modified=state.last_modified,
        version=Version(text=text, text_hash=text_hash, extract_sig=rules.signature(), raw=None,
                        raw_hash=snap.raw_hash, content_type=content_type, origin="reextract", url=snap.url),
        previous_snapshot_id=snap.id, failures=state.failures, gone=state.gone,
        # A text pending confirmation was extracted under the old rules: it no longer compares.
        pending_hash=None, keep_validators=True,
        said=said_of(text_state(text, page.company)), said_sig=rules_version(),
    )
    recorded = rt.store.record(rec)
    if recorded.raced:
        return False, "another process recorded a new version meanwhile; run reextract again"
    log.info("%s: re-extracted snapshot %s as new baseline snapshot %s (+%d -%d lines), no change recorded",
             page.id, snap.id, recorded.snapshot_id, diff.added, diff.removed)
    return True, (f"new baseline snapshot {recorded.snapshot_id} from snapshot {snap.id}'s raw body "
                  f"(+{diff.added} -{diff.removed} lines); no change, event or alert")


def reextract_pages(rt: Runtime, page_ids: list[str]) -> int:
    """Re-extract each page; prints one line per page. Exit status 0, or 1 if any page failed."""
    failed = False
    for page_id in page_ids:
        try:
            ok, message = reextract_page(rt, page_id)
        except StoreError as exc:
            ok, message = False, f"database error: {exc}"
        print(printable(f"{page_id}: {message}"))
        failed = failed or not ok
    return 1 if failed else 0
