"""Keep secrets out of every log line, error and printed message.

Alert URLs carry credentials in the user-info part (mailto://user:pass@host) and, for many
Apprise services, as path tokens (slack://T000/B000/XXXX). The config registers each sink
URL's secret parts here; `redact` masks them, plus any user:password@ in a URL it sees.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote, urlsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*)(?::(?P<pw>[^/@\s]*))?@")
_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


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
        # Tokens are long and mixed; ordinary host names and words are not worth masking.
        if len(segment) >= 8 and re.search(r"\d", segment) and not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", segment) \
                and not _is_ip(segment):  # an IP address is where, not who: masking it hides page URLs too
            found.add(segment)
    with _lock:
        _secrets.update(secret for secret in found if len(secret) >= 4)


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
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return _USERINFO.sub(
        lambda m: f"{m.group('scheme')}{_MASK}:{_MASK}@" if m.group("pw") is not None else m.group(0), text
    )
