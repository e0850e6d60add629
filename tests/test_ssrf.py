"""The SSRF guard: which addresses a fetch may reach, and that it connects only to what it vetted.

Real servers on 127.0.0.1; names are answered by resolvers written here (the fetcher takes one),
never by real DNS; `ConnectionLog` records every connect() of the process, so a test can show that
no packet left for an address that was refused.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.fetch import Fetcher, FetchError, FetchPolicy, FetchResult, Resolver, address_allowed, system_resolver
from monitor.pageserver import PageServer, Route
from tests.hostile import ConnectionLog

LOOPBACK_ONLY = ("127.0.0.1/32",)  # the test server is reachable; nothing else private is

# IPv6 forms that carry an IPv4 address, and the address a packet would end up at.
EMBEDDING_PRIVATE = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",  # NAT64, well-known prefix
    "64:ff9b::a9fe:a9fe",  # NAT64 of the cloud metadata address 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): the operator's own network, whatever it embeds
]
EMBEDDING_PUBLIC = ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "::ffff:0:808:808"]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_ipv6_forms_embedding_a_private_ipv4_address_are_refused(address: str) -> None:
    assert not address_allowed(address, False)
    assert address_allowed(address, True)


@pytest.mark.parametrize("address", EMBEDDING_PUBLIC)
def test_ipv6_forms_embedding_a_public_ipv4_address_are_allowed(address: str) -> None:
    assert address_allowed(address, False)


def test_an_allow_list_applies_to_the_embedded_address_or_the_ipv6_form() -> None:
    allow = ("127.0.0.0/8",)
    assert address_allowed("::ffff:127.0.0.1", allow) and address_allowed("64:ff9b::7f00:1", allow)
    assert not address_allowed("64:ff9b::a00:1", allow)  # 10.0.0.1 is not listed
    assert address_allowed("::1", ("::1/128",)) and not address_allowed("::1", allow)
    assert address_allowed("2002:a00:1::1", ("2002::/16",))


def _fetch(url: str, resolver: Resolver = system_resolver, ca_bundle: str | None = None,
           allow: bool | tuple[str, ...] = LOOPBACK_ONLY) -> tuple[FetchResult | FetchError, list[str]]:
    """One fetch by a fresh fetcher (no pooled connection): its result or error, and the
    addresses this process connected to meanwhile."""
    fetcher = Fetcher(FetchPolicy(allow_private=allow, retries=0, timeout=2, deadline=5), resolver=resolver,
                      ca_bundle=ca_bundle)
    outcome: FetchResult | FetchError
    try:
        with ConnectionLog.recording() as connections:
            try:
                outcome = fetcher.fetch(url)
            except FetchError as exc:
                outcome = exc
    finally:
        fetcher.close()
    return outcome, [str(address[0]) for address in connections]


def _failed(outcome: FetchResult | FetchError, pattern: str) -> bool:
    return isinstance(outcome, FetchError) and re.search(pattern, outcome.reason) is not None


def _redirect_to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


@pytest.mark.parametrize("address", ["::127.0.0.2", "64:ff9b::a00:1", "2002:a9fe:a9fe::", "::ffff:0:a00:1"])
def test_a_redirect_to_an_embedded_private_address_is_refused_before_any_packet(
    server: PageServer, address: str
) -> None:
    server.routes["/hop"] = Route(handler=_redirect_to(f"http://[{address}]:{server.port}/secret"))
    outcome, connected = _fetch(server.url("/hop"))
    assert _failed(outcome, f"non-public address {re.escape(address)}"), outcome
    assert connected == ["127.0.0.1"]  # the first hop only


class FlippingResolver:
    """A name whose answer changes from one lookup to the next (DNS rebinding): the first answer
    is the test server, later ones an address that must never be contacted."""

    def __init__(self, name: str, first: list[str], later: list[str]):
        self.name, self.first, self.later = name, first, later
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host != self.name:
            raise FetchError(f"DNS lookup failed for {host}: Name or service not known")
        return list(self.first if len(self.asked) == 1 else self.later)


def test_a_name_is_resolved_once_and_the_vetted_address_is_the_one_connected_to(server: PageServer) -> None:
    server.set("/page", "<p>the guide</p>")
    resolver = FlippingResolver("rebind.example", ["127.0.0.1"], ["127.0.0.2"])
    result, connected = _fetch(f"http://rebind.example:{server.port}/page", resolver)
    assert isinstance(result, FetchResult), result
    assert result.status == 200 and result.body == b"<p>the guide</p>"
    assert resolver.asked == ["rebind.example"]  # one lookup: no second answer can be used
    assert connected == ["127.0.0.1"]
    [(_, headers)] = [request for request in server.requests if request[0] == "/page"]
    assert headers["Host"] == f"rebind.example:{server.port}"  # the request still names the host


def test_a_name_that_rebinds_to_a_private_address_is_refused_before_any_packet(server: PageServer) -> None:
    server.set("/page", "<p>the guide</p>")
    url = f"http://rebind.example:{server.port}/page"
    resolver = FlippingResolver("rebind.example", ["127.0.0.1"], ["10.1.2.3"])
    first, connected = _fetch(url, resolver)
    assert isinstance(first, FetchResult) and first.status == 200 and connected == ["127.0.0.1"]
    second, connected = _fetch(url, resolver)  # a new lookup now answers a private address
    assert _failed(second, r"refused: rebind\.example resolves to non-public address 10\.1\.2\.3"), second
    assert connected == []


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    outcome, connected = _fetch("http://mixed.example/policy",
                                FlippingResolver("mixed.example", ["93.184.215.14", "10.0.0.7"], []), allow=False)
    assert _failed(outcome, r"non-public address 10\.0\.0\.7"), outcome
    assert connected == []


# -- TLS: connecting to the vetted address still verifies the certificate against the name ------


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[Callable[[str], tuple[PageServer, list[str], str]]]:
    """tls_site(cert_name) -> (server on 127.0.0.1 with a certificate for cert_name, the SNI names
    it was asked for, the CA bundle that trusts it)."""
    import trustme

    servers: list[PageServer] = []

    def make(cert_name: str) -> tuple[PageServer, list[str], str]:
        ca = trustme.CA()
        bundle = tmp_path / f"ca-{cert_name}.pem"
        ca.cert_pem.write_to_path(str(bundle))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(cert_name).configure_cert(context)
        sni: list[str] = []
        context.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc]
        server = PageServer()
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        server.set("/page", "<p>over TLS</p>")
        servers.append(server.start())
        return server, sni, str(bundle)

    yield make
    for server in servers:
        server.stop()


def test_tls_to_the_vetted_address_verifies_the_certificate_and_sends_sni_for_the_name(
    tls_site: Callable[[str], tuple[PageServer, list[str], str]],
) -> None:
    server, sni, bundle = tls_site("pages.example")
    resolver = FlippingResolver("pages.example", ["127.0.0.1"], ["10.1.2.3"])
    result, connected = _fetch(f"https://pages.example:{server.port}/page", resolver, ca_bundle=bundle)
    assert isinstance(result, FetchResult), result
    assert result.status == 200 and result.body == b"<p>over TLS</p>"
    assert sni == ["pages.example"] and resolver.asked == ["pages.example"]
    assert connected == ["127.0.0.1"]


@pytest.mark.parametrize("cert_name", ["other.example", "127.0.0.1"])
def test_tls_certificate_not_for_the_name_is_refused_even_if_it_fits_the_vetted_address(
    tls_site: Callable[[str], tuple[PageServer, list[str], str]], cert_name: str
) -> None:
    """A certificate for 127.0.0.1 fits the address connected to, not the URL's name: refused."""
    server, _, bundle = tls_site(cert_name)
    outcome, connected = _fetch(f"https://pages.example:{server.port}/page",
                                FlippingResolver("pages.example", ["127.0.0.1"], ["127.0.0.1"]), ca_bundle=bundle)
    assert _failed(outcome, r"TLS error: .*(hostname mismatch|doesn't match|not valid for)"), outcome
    assert connected == ["127.0.0.1"]
