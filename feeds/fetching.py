"""Bring a feed's bytes home, with the guards of every outgoing request.

A feed address is typed by a newsletter owner, so it is fetched like an outgoing
webhook is posted (``newsletter.outbound``): public addresses only unless an admin
allows private ones, HTTPS unless plain HTTP is allowed, a deadline for the whole
exchange and a cap on the size. A redirect (feeds move, and HTTP often redirects to
HTTPS) is followed a few times, each target checked again as if typed.

``file://`` addresses are read only inside ``FEEDS_FILE_ROOT``, which is empty (so
refused) unless an admin sets it; ``make run`` sets it to the demo's feed folder.
"""

from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext

from newsletter import outbound

MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
USER_AGENT = "Crier-Feeds/1"


class FeedError(Exception):
    """The feed could not be read or is not a feed: a sentence for the owner, naming why."""


def fetch(url: str) -> bytes:
    """The feed's content; raise FeedError saying what stopped it."""
    if urlsplit(url).scheme == "file":
        return _read_file(url)
    for _ in range(MAX_REDIRECTS + 1):
        reply = _get(url)
        location = reply.headers.get("location")
        if reply.status in REDIRECTS and location:
            url = urljoin(url, location)
            if urlsplit(url).scheme == "file":
                raise FeedError(gettext("The feed redirects to a file address, which is refused."))
            continue
        if reply.status != 200:
            raise FeedError(
                gettext("The feed's server answered HTTP %(status)s.") % {"status": reply.status}
            )
        return _capped(reply.body)
    raise FeedError(
        gettext("The feed redirects more than %(count)s times.") % {"count": MAX_REDIRECTS}
    )


def _get(url: str) -> outbound.Reply:
    try:
        return outbound.get(
            url,
            headers={"Accept": ACCEPT, "User-Agent": USER_AGENT},
            allow_private=settings.FEEDS_ALLOW_PRIVATE,
            allow_http=settings.FEEDS_ALLOW_HTTP,
            timeout=settings.FEEDS_TIMEOUT_SECONDS,
            # One byte more than allowed tells a feed that is too large from one that fits.
            max_bytes=settings.FEEDS_MAX_BYTES + 1,
        )
    except outbound.Refused as error:
        raise FeedError(
            gettext("This address is refused: %(reason)s.") % {"reason": error}
        ) from None
    except outbound.TooSlow:
        raise FeedError(
            gettext("The feed took longer than %(seconds)s seconds to arrive.")
            % {"seconds": f"{settings.FEEDS_TIMEOUT_SECONDS:g}"}
        ) from None
    except outbound.TransportError as error:
        raise FeedError(
            gettext("The feed could not be reached: %(reason)s.") % {"reason": error}
        ) from None


def _capped(content: bytes) -> bytes:
    if len(content) > settings.FEEDS_MAX_BYTES:
        raise FeedError(
            gettext("The feed is larger than %(size)s KB, the most Crier reads.")
            % {"size": settings.FEEDS_MAX_BYTES // 1024}
        )
    return content


def _read_file(url: str) -> bytes:
    """A file inside ``FEEDS_FILE_ROOT`` (no way out through ``..`` or a link)."""
    if not settings.FEEDS_FILE_ROOT:
        raise FeedError(gettext("File addresses are not allowed on this server."))
    root = Path(settings.FEEDS_FILE_ROOT).resolve()
    path = Path(unquote(urlsplit(url).path)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise FeedError(
            gettext("Only files inside %(root)s may be followed, and this is none.")
            % {"root": root}
        )
    with path.open("rb") as file:
        return _capped(file.read(settings.FEEDS_MAX_BYTES + 1))
