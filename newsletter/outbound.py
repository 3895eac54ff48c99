"""An HTTP client that reaches only the public internet, unless an admin allows more.

Webhook URLs and followed feeds are typed by a newsletter owner, so they must not
become a way into the server's own network (SSRF): ``newsletter.network`` resolves
the host once and checks every address, and the connection goes to the checked
address while TLS (SNI and the certificate check) and the Host header still use the
name. Redirects are not followed (a caller that follows one checks its target
again), the whole exchange has a deadline, and at most ``max_bytes`` of the answer
is read. urllib3 (already a dependency, through requests) does the HTTP.

Used by outgoing webhooks (``webhooks/services.py``) and feeds (``feeds/fetching.py``).
"""

import time
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as UrllibTimeout

from newsletter.network import Refused, TransportError, is_public, pick_address

__all__ = ["Refused", "Reply", "TooSlow", "TransportError", "check_url", "get", "is_public", "post"]

CHUNK = 8192


class TooSlow(TransportError):
    """The answer did not arrive whole before the deadline."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    # The answer's headers, names in lower case (a redirect's ``location``).
    headers: dict[str, str] = field(default_factory=dict)


def check_url(url: str, *, allow_http: bool) -> SplitResult:
    """Refuse what is wrong with the URL itself, before any network access."""
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise Refused(f"only {' or '.join(allowed)} URLs are allowed")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not allowed")
    try:
        parts.port  # noqa: B018  (raises on an invalid port)
    except ValueError:
        raise Refused("the URL has an invalid port") from None
    return parts


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    allow_http: bool,
    timeout: float,
    max_bytes: int,
) -> Reply:
    """POST ``body`` to ``url``; raise Refused or TransportError, else return the reply."""
    return request(
        "POST",
        url,
        body=body,
        headers=headers,
        allow_private=allow_private,
        allow_http=allow_http,
        timeout=timeout,
        max_bytes=max_bytes,
    )


def get(
    url: str,
    *,
    headers: dict[str, str],
    allow_private: bool,
    allow_http: bool,
    timeout: float,
    max_bytes: int,
) -> Reply:
    """GET ``url``; raise Refused or TransportError, else return the reply."""
    return request(
        "GET",
        url,
        body=None,
        headers=headers,
        allow_private=allow_private,
        allow_http=allow_http,
        timeout=timeout,
        max_bytes=max_bytes,
    )


def request(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    allow_private: bool,
    allow_http: bool,
    timeout: float,
    max_bytes: int,
) -> Reply:
    """One exchange with the checked address of ``url``'s host, within ``timeout`` seconds."""
    parts = check_url(url, allow_http=allow_http)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = pick_address(host, port, allow_private=allow_private)
    bracketed = f"[{host}]" if ":" in host else host
    default_port = port == (443 if parts.scheme == "https" else 80)
    host_header = bracketed if default_port else f"{bracketed}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    pool = _pool(parts.scheme, address, port, host, timeout)
    try:
        response = pool.urlopen(
            method,
            target,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            content = _read_capped(response, max_bytes, deadline)
            answer_headers = {name.lower(): value for name, value in response.headers.items()}
            return Reply(response.status, content, answer_headers)
        finally:
            response.close()
    except UrllibTimeout as error:
        raise TooSlow(str(error)) from None
    except HTTPError as error:
        raise TransportError(str(error)) from None
    finally:
        pool.close()


def _pool(scheme: str, address: str, port: int, host: str, timeout: float):
    limits = urllib3.Timeout(total=timeout)
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=limits,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=host,
            assert_hostname=host,
        )
    return urllib3.HTTPConnectionPool(address, port, timeout=limits, maxsize=1)


def _read_capped(response, max_bytes: int, deadline: float) -> bytes:
    """Read at most ``max_bytes``, and stop at the deadline even if the server trickles."""
    content = b""
    while len(content) < max_bytes:
        if time.monotonic() > deadline:
            raise TooSlow("the endpoint took too long to answer")
        chunk = response.read(min(CHUNK, max_bytes - len(content)))
        if not chunk:
            break
        content += chunk
    return content
