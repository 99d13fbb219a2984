"""Outbound HTTP calls (webhooks, later generative endpoints) to addresses the operator allows.

Security posture (ARCHITECTURE.md): a URL that an organisation's admin types in must not turn the
service into a proxy onto its own network. So:

- only `http` and `https` URLs, without credentials in them;
- the host name is resolved when the URL is validated *and* again when it is called; if any of its
  addresses is loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud
  metadata address, fe80::/10), multicast, unspecified, reserved, shared (CGNAT 100.64/10) or any
  other non-global address (IPv4-mapped, 6to4 and NAT64 forms of those included), the call is
  refused, unless the operator sets `ASSAY_OUTBOUND_ALLOW_PRIVATE=1`;
- the request goes to the very address that was checked (the socket connects to that IP; the Host
  header and, for https, the TLS SNI and certificate check use the name), so a DNS answer that
  changes between the check and the call (DNS rebinding) cannot redirect it;
- redirects are answers, never followed; no proxy from the environment is used;
- failures raise `OutboundError` whose text is a short category ("connection refused", "timed
  out"), safe to store and to show to any member; the transport's own message goes to the log.

`check_url(url) -> ResolvedTarget` validates (a 400 at form time), `post_json(url, body, headers,
timeout) -> Response` checks and calls.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

SCHEMES = {"http": 80, "https": 443}
DEFAULT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = "Assay/1"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundError(Exception):
    """An outbound call that was not made or did not complete; `str()` is short and safe to show."""


class RefusedURL(OutboundError, ValueError):
    """The URL, or an address its host resolves to, is not one Assay calls."""


class TransportError(OutboundError, OSError):
    """The call was allowed but failed on the way (the category only; details are logged)."""


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked URL: where to connect (`address`, `sockaddr`) and what to say (`host_header`, `path`)."""

    url: str
    scheme: str
    host: str  # the name as sent in Host and SNI (IDNA, no brackets)
    port: int
    path: str  # path and query, as in the request line
    address: str  # the checked IP the socket connects to
    family: int = field(repr=False)
    sockaddr: tuple = field(repr=False)

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == SCHEMES[self.scheme] else f"{name}:{self.port}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def allow_private() -> bool:
    """True when the operator lets outbound calls reach private, loopback and link-local addresses."""
    from django.conf import settings

    return bool(getattr(settings, "ASSAY_OUTBOUND_ALLOW_PRIVATE", False))


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Return why `ip` is not a public unicast address ("loopback", "private", ...), or None when it is."""
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded)
    checks = (("is_unspecified", "unspecified"), ("is_loopback", "loopback"), ("is_link_local", "link-local"),
              ("is_multicast", "multicast"), ("is_site_local", "site-local"))
    for attr, name in checks:
        if getattr(ip, attr, False):
            return name
    if ip.version == 4 and ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def _resolve(host: str, port: int) -> list[tuple]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        logger.info("outbound: %s does not resolve: %s", host, exc)
        raise RefusedURL(f"the host {host} does not resolve") from None
    if not infos:
        raise RefusedURL(f"the host {host} does not resolve")
    return infos


def check_url(url: str, *, private_ok: bool | None = None) -> ResolvedTarget:
    """Parse and resolve `url`; return the target to connect to, or raise RefusedURL saying why not.

    Every address the host resolves to must be allowed (a name that answers with one public and one
    private address is refused); the first is the one the call will connect to.
    """
    if not isinstance(url, str) or not url:
        raise RefusedURL("no URL given")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise RefusedURL("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedURL("the URL is malformed (check the host and port)") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedURL("only http:// and https:// URLs are called")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("credentials in the URL are not supported")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise RefusedURL("the URL has no host")
    try:
        host = raw_host if raw_host.isascii() else raw_host.encode("idna").decode("ascii")
    except UnicodeError:
        raise RefusedURL("the host name is not valid") from None
    port = SCHEMES[scheme] if port is None else port
    if not 0 < port < 65536:
        raise RefusedURL("the port is out of range")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    private_ok = allow_private() if private_ok is None else private_ok
    infos = _resolve(host, port)
    candidates = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        reason = address_refusal(ip)
        if reason is not None and not private_ok:
            literal = _is_ip_literal(host)
            where = "the address" if literal else f"the host {host} resolves to a"
            raise RefusedURL(f"{where} {reason} address; outbound calls go to public addresses only")
        candidates.append((family, sockaddr, str(ip)))
    if not candidates:
        raise RefusedURL(f"the host {host} has no IPv4 or IPv6 address")
    family, sockaddr, address = candidates[0]
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, path=path, address=address,
                          family=family, sockaddr=tuple(sockaddr))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to the checked address, whatever the name resolves to now."""

    def __init__(self, target: ResolvedTarget, timeout: float):
        super().__init__(target.address, target.port, timeout=timeout)
        self._target = target

    def connect(self):
        sock = socket.socket(self._target.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._target.sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the checked address: SNI and the certificate check use the URL's host name."""

    default_port = 443

    def __init__(self, target: ResolvedTarget, timeout: float, context: ssl.SSLContext):
        super().__init__(target, timeout)
        self._context = context

    def connect(self):
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._target.host)


def _category(exc: BaseException) -> str:
    """Return the short, shareable name of a transport failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable"
    if isinstance(exc, ValueError):
        return "invalid request"
    return "network error"


def post_json(url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT_S,
              *, max_response_bytes: int = MAX_RESPONSE_BYTES, context: ssl.SSLContext | None = None,
              private_ok: bool | None = None) -> Response:
    """POST `body` (bytes as they are, anything else as JSON) to `url` after `check_url`; return the answer.

    Any status is returned (3xx included: redirects are not followed). Raise RefusedURL when the URL
    is not allowed now, TransportError (a short category) when the call fails. `timeout` bounds each
    network operation and the whole exchange.
    """
    target = check_url(url, private_ok=private_ok)
    data = body if isinstance(body, bytes | bytearray) else json.dumps(body, ensure_ascii=False).encode()
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    sent = {k: v for k, v in sent.items() if k.lower() not in ("host", "content-length", "connection")}
    sent.update({"Host": target.host_header, "Content-Length": str(len(data)), "Connection": "close"})
    if target.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
            target, timeout, context or ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(target, timeout)
    deadline = time.monotonic() + timeout
    try:
        conn.request("POST", target.path, body=bytes(data), headers=sent)
        answer = conn.getresponse()
        chunks, size = [], 0
        while size < max_response_bytes:
            if time.monotonic() > deadline:
                raise TimeoutError("response body too slow")
            chunk = answer.read(min(65536, max_response_bytes - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return Response(status=answer.status, headers={k.lower(): v for k, v in answer.getheaders()},
                        body=b"".join(chunks))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        category = _category(exc)
        logger.warning("outbound: POST %s (%s) failed: %s: %s", target.host_header, target.address, category,
                       exc)
        raise TransportError(category) from exc
    finally:
        conn.close()
