"""The open pixel and the click redirect (check the token, buffer the hit, answer fast),
and the dashboard's campaign report and its CSV."""

import base64
import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from campaigns import extensions
from campaigns.editions import language_name
from campaigns.models import Campaign
from delivery.selectors import latest_bounces_and_complaints, reports_deliveries
from newsletter.access import member_required
from newsletter.http import client_ip
from newsletter.models import Newsletter, Role

from . import selectors, services, tokens
from .agents import classify
from .report import campaign_report as build_report
from .report import edition_counts, report_csv

logger = logging.getLogger(__name__)

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# What ``never_cache`` says, written once: every hit must reach the server.
NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


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


def pixel(request: HttpRequest, token: str) -> HttpResponse:
    """Always the image, whatever the token: a mail client shows no broken picture."""
    claim = tokens.read(tokens.OPEN, token)
    if claim is not None:
        _record(request, claim)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = NO_CACHE
    return response


def redirect(request: HttpRequest, token: str) -> HttpResponse | None:
    """The redirect a valid click token asks for, the hit counted; None for any other."""
    claim = tokens.read(tokens.CLICK, token)
    if claim is None:
        return None
    url = selectors.link_url(campaign_id=claim.campaign_id, link_id=claim.link_id)
    if url is None:
        return None
    _record(request, claim)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = NO_CACHE
    return response


# tracking.middleware answers both endpoints first; these views are what it leaves
# through: methods other than GET and HEAD (405) and clicks that are not valid (404).


@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    return pixel(request, token)


@require_safe
@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to the link the token names, if it was in that campaign; else a 404."""
    response = redirect(request, token)
    if response is not None:
        return response
    scanner = tokens.read(tokens.SCANNER, token)
    if scanner is not None:
        _record(request, scanner)
    raise Http404


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(newsletter.campaigns.select_related("newsletter"), pk=pk)


@member_required(Role.VIEWER)
def campaign_report(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Headline numbers, the opens and clicks timeline, the click map, bounces and complaints."""
    campaign = _campaign(newsletter, pk)
    report = build_report(campaign)
    return render(
        request,
        "tracking/campaign_report.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "report": report,
            "stats": report.stats,
            "feedback": report.feedback,
            "timeline_chart": report.stats.chart(),
            "problems": latest_bounces_and_complaints(campaign) if report.has_problems else [],
            "reports_deliveries": reports_deliveries(newsletter),
            # What other apps add (a consultation's results): campaigns.extensions.
            "sections": extensions.report_sections(campaign),
            "editions": [
                (counts, language_name(counts.language)) for counts in edition_counts(campaign)
            ],
        },
    )


@member_required(Role.VIEWER)
def campaign_report_csv(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    response = HttpResponse(report_csv(build_report(campaign)), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{newsletter.slug}-campaign-{campaign.pk}-report.csv"'
    )
    return response
