"""The report's Atom feeds: everything, pause events, one per company, one per jurisdiction.

| feed | entries |
| --- | --- |
| `feed.xml` | every event |
| `feeds/pauses.xml` | pause_started and pause_lifted events |
| `feeds/company/<slug>.xml` | the events of one company (slug: its name in lower-case ASCII words) |
| `feeds/jurisdiction/<CODE>.xml` | the events that name one jurisdiction (ISO 3166-1 alpha-2) |

A pause event whose jurisdiction is null ("unspecified") is in feed.xml, pauses.xml and its
company's feed, and in no jurisdiction feed: there is none it belongs to.

Every feed is capped: its document (what a reader subscribes to) holds the latest
FEED_ENTRIES entries, in the order the monitor recorded them. The entries before those are in
RFC 5005 archive documents of FEED_ENTRIES entries each, `feeds/archive/<key>/<n>.xml` (n = 1
the oldest), written once when complete and never changed; each links to the one before
(`prev-archive`) and to the feed (`current`), and the feed links to the newest (`prev-archive`).
Entry ids are UUIDs derived from the event id and the database, so an entry keeps its id in
every feed, archive and rebuild.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.models import Event
from monitor.render import iso_time, jurisdiction_name, kind_label
from monitor.store import EventQuery
from monitor.vocabulary import PAUSE_KINDS

ATOM = "http://www.w3.org/2005/Atom"
HISTORY = "http://purl.org/syndication/history/1.0"  # RFC 5005
FEED_ENTRIES = 50
# An empty feed still needs an <updated>: a fixed instant keeps rebuilds byte-identical.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CODE = re.compile(r"^[A-Z0-9]{2,8}$")
# Characters XML 1.0 cannot carry at all (not even escaped); page text can hold them (&#1;).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def event_href(event: Event, prefix: str = "") -> str:
    """The report page of an event: its change, or its page (page_gone has no change)."""
    return f"{prefix}changes/{event.change_id}.html" if event.change_id else f"{prefix}pages/{event.page_id}.html"


@dataclass(frozen=True)
class Feed:
    key: str  # "all", "pauses", "company/<slug>", "jurisdiction/<CODE>"
    path: str  # of the subscription document, relative to the report's root
    label: str  # what it holds, for people: "Zoom", "pauses of data requests"
    query: EventQuery
    html: str = "index.html"  # the report page the feed belongs to

    @property
    def title(self) -> str:
        return f"policy-monitor: {self.label}"

    def archive_path(self, number: int) -> str:
        return f"feeds/archive/{self.key}/{number}.xml"


def all_events_feed() -> Feed:
    return Feed("all", "feed.xml", "all events", EventQuery())


def pauses_feed() -> Feed:
    return Feed("pauses", "feeds/pauses.xml", "pauses of data requests", EventQuery(kinds=PAUSE_KINDS))


@functools.lru_cache(maxsize=4096)
def company_slug(name: str) -> str:
    """'Meta Platforms, Inc.' -> 'meta-platforms-inc'; a name with no ASCII letters gets a hash."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return slug or "company-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def company_feed(slug: str, names: Sequence[str], label: str) -> Feed:
    """The feed of every company name that has this slug (spellings of one company)."""
    return Feed(f"company/{slug}", f"feeds/company/{slug}.xml", f"{label} events",
                EventQuery(companies=tuple(sorted(names))))


def jurisdiction_code(code: str | None) -> str | None:
    """The code as a feed name, or None (null, or not a code: no jurisdiction feed)."""
    return code if code and _CODE.match(code) else None


def jurisdiction_feed(code: str, name: str) -> Feed:
    label = f"{name} ({code})" if name and name != code else code
    return Feed(f"jurisdiction/{code}", f"feeds/jurisdiction/{code}.xml", f"{label} events",
                EventQuery(jurisdiction=code))


def _atom(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def _text(value: str, limit: int = 4000) -> str:
    """Text as XML can hold it: what it cannot carry becomes U+FFFD, so the feed stays well-formed;
    cut at `limit` characters (a page's one huge line must not make a feed of megabytes)."""
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    return _NOT_XML.sub("\ufffd", value)


def relative(target: str, document: str) -> str:
    """`target` (relative to the report's root) as seen from `document` (also relative to it)."""
    return posixpath.relpath(target, posixpath.dirname(document) or ".")


def feed_document(feed: Feed, events: Sequence[Event], namespace: uuid.UUID, *, archives: int,
                  archive: int | None = None) -> bytes:
    """The feed's subscription document (`archive` None: `events` are its latest, newest first,
    and `archives` archive documents exist), or its archive document number `archive`."""
    from monitor.alerts import build_message

    ET.register_namespace("", ATOM)
    ET.register_namespace("fh", HISTORY)
    path = feed.path if archive is None else feed.archive_path(archive)
    root = ET.Element(_atom("feed"))
    # feed.xml keeps the id it had before feeds were split and capped: subscribers keep it.
    base_id = namespace if feed.key == "all" else uuid.uuid5(namespace, f"feed/{feed.key}")
    ET.SubElement(root, _atom("id")).text = (base_id if archive is None
                                              else uuid.uuid5(namespace, f"feed/{feed.key}/{archive}")).urn
    ET.SubElement(root, _atom("title")).text = _text(feed.title + (f" (archive {archive})" if archive else ""))
    ET.SubElement(root, _atom("updated")).text = iso_time(max((e.detected_at for e in events), default=EPOCH))
    ET.SubElement(ET.SubElement(root, _atom("author")), _atom("name")).text = "policy-monitor"
    ET.SubElement(root, _atom("link"), rel="self", href=relative(path, path), type="application/atom+xml")
    ET.SubElement(root, _atom("link"), rel="alternate", href=relative(feed.html, path), type="text/html")
    if archive is not None:
        ET.SubElement(root, f"{{{HISTORY}}}archive")
        ET.SubElement(root, _atom("link"), rel="current", href=relative(feed.path, path),
                      type="application/atom+xml")
    previous = archives if archive is None else archive - 1
    if previous >= 1:
        ET.SubElement(root, _atom("link"), rel="prev-archive", href=relative(feed.archive_path(previous), path),
                      type="application/atom+xml")
    ET.SubElement(root, _atom("generator")).text = "policy-monitor"
    for event in events:
        message = build_message(event, None, None)
        entry = ET.SubElement(root, _atom("entry"))
        ET.SubElement(entry, _atom("id")).text = uuid.uuid5(namespace, f"event/{event.id}").urn
        ET.SubElement(entry, _atom("title")).text = _text(message.title)
        ET.SubElement(entry, _atom("updated")).text = iso_time(event.detected_at)
        ET.SubElement(entry, _atom("published")).text = iso_time(event.detected_at)
        ET.SubElement(entry, _atom("link"), rel="alternate", href=relative(event_href(event), path),
                      type="text/html")
        ET.SubElement(entry, _atom("link"), rel="related", href=_text(event.url))
        if event.source:  # an archived event: the capture it was found in
            ET.SubElement(entry, _atom("link"), rel="via", href=_text(event.source))
        ET.SubElement(entry, _atom("category"), term=event.kind, label=kind_label(event.kind))
        if event.jurisdiction:
            ET.SubElement(entry, _atom("category"), term=event.jurisdiction, scheme="urn:iso:std:iso:3166:-1",
                          label=jurisdiction_name(event.jurisdiction))
        ET.SubElement(entry, _atom("summary"), type="text").text = _text(event.quote or message.title, 1000)
        ET.SubElement(entry, _atom("content"), type="text").text = _text(message.body)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
