"""Keep secrets out of every log line, error and printed message.

Two kinds of secret are registered here and masked by `redact` wherever they appear:

* every value the config expanded from `${VAR}` (the config's way of saying "this is a
  secret": an SMTP password, a webhook token, an ntfy topic, a database password), whatever
  it looks like, from `expand_env`;
* the secret-looking parts of alert URLs written out in full (mailto://user:pass@host, path
  tokens such as slack://T000/B000/XXXX) and the password of the database URL.

`redact` also masks any user:password@ it sees in a URL; `redact_database_url` is the form of a
database URL fit for printing (never with its password).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*)(?::(?P<pw>[^/@\s]*))?@")
_MASK = "***"
# A shorter value would mask every occurrence of a common string ("on", "443") in all output,
# and is no secret worth the name.
MIN_SECRET = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret containing another is masked whole


def register_secret(value: str) -> None:
    """Mask `value` (and its URL-encoded forms, as it may appear inside a URL) from now on."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    _add(form for form in forms if len(form) >= MIN_SECRET)


def _add(found: object) -> None:
    global _ordered
    with _lock:
        before = len(_secrets)
        _secrets.update(found)  # type: ignore[arg-type]
        if len(_secrets) != before:
            _ordered = sorted(_secrets, key=len, reverse=True)


def register_secret_url(url: str) -> None:
    """Remember the secret-looking parts of an alert URL so they can be masked anywhere."""
    parts = urlsplit(url)
    found = {url}
    if parts.password:
        found.update({parts.password, unquote(parts.password)})
    if parts.username:
        found.update({parts.username, unquote(parts.username)})
    # Some services keep the token in the host:port slot (tgram://BOTID:TOKEN/chat), so split netloc too.
    netloc = re.split(r"[:@]", parts.netloc)
    for segment in [parts.hostname or "", *netloc, *parts.path.split("/"), *re.split(r"[&=]", parts.query)]:
        # Tokens are long and mixed; ordinary host names and words are not worth masking
        # (a token that is neither is safe only when it comes from ${VAR}: see register_secret).
        if len(segment) >= 8 and re.search(r"\d", segment) and not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", segment) \
                and not _is_ip(segment):  # an IP address is where, not who: masking it hides page URLs too
            found.add(segment)
    _add(secret for secret in found if len(secret) >= MIN_SECRET)


def register_database_url(url: str) -> None:
    """The database password, from the user-info part or a `password=` query parameter."""
    parts = urlsplit(url)
    passwords = [parts.password or ""] + [value for key, value in parse_qsl(parts.query) if key == "password"]
    for password in passwords:
        if password:
            register_secret(unquote(password))
            register_secret(password)


def redact_database_url(url: str) -> str:
    """A database URL fit for printing: where the database is, never its credentials."""
    return redact(re.sub(r"(?<=[?&]password=)[^&#]*", _MASK, url))


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def redact(text: str) -> str:
    if not text:
        return text
    for secret in _ordered:  # a snapshot: registering replaces the list, never mutates it
        if secret in text:
            text = text.replace(secret, _MASK)
    return _USERINFO.sub(
        lambda m: f"{m.group('scheme')}{_MASK}:{_MASK}@" if m.group("pw") is not None else m.group(0), text
    )
