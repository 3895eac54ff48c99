"""The open pixel and the click redirect: check the token, buffer the hit, answer fast."""

import base64
import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from newsletter.http import client_ip

from . import selectors, services, tokens
from .agents import classify

logger = logging.getLogger(__name__)

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _record(request: HttpRequest, claim: tokens.Claim) -> None:
    """Count the hit if possible; a broken buffer never keeps a reader from their page."""
    try:
        services.record(
            claim=claim,
            agent=classify(request.headers.get("User-Agent", "")),
            ip=client_ip(request),
        )
    except Exception:  # Redis or the database down: the answer matters more than the count
        logger.exception("tracking hit not recorded")


@require_safe
@never_cache
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """Always the image, whatever the token: a mail client shows no broken picture."""
    claim = tokens.read(tokens.OPEN, token)
    if claim is not None:
        _record(request, claim)
    return HttpResponse(PIXEL, content_type="image/gif")


@require_safe
@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to the link the token names, if it was in that campaign; else a 404."""
    claim = tokens.read(tokens.CLICK, token)
    if claim is None:
        scanner = tokens.read(tokens.SCANNER, token)
        if scanner is not None:
            _record(request, scanner)
        raise Http404
    url = selectors.link_url(campaign_id=claim.campaign_id, link_id=claim.link_id)
    if url is None:
        raise Http404
    _record(request, claim)
    return HttpResponseRedirect(url)
