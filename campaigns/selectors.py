"""Reads for campaigns, shared by the dashboard, the public pages and the feed."""

from django.db.models import Q, QuerySet

from newsletter.models import Newsletter
from subscribers.extensions import PageSection

from .models import Campaign, Kind, Layout, Status


def public_archive(newsletter: Newsletter) -> QuerySet[Campaign]:
    """Sent campaigns marked public, newest first: the archive, the feed, the public page."""
    return (
        Campaign.objects.filter(
            newsletter=newsletter, status=Status.SENT, public=True, sent_at__isnull=False
        )
        .select_related("newsletter")
        .order_by("-sent_at", "-id")
    )


ARCHIVE_ON_PAGE = 20


def public_page_archive(newsletter: Newsletter) -> PageSection:
    """The latest public issues, on the newsletter's public page (subscribers')."""
    return PageSection(
        "campaigns/public/page_archive.html",
        {"newsletter": newsletter, "archive": public_archive(newsletter)[:ARCHIVE_ON_PAGE]},
    )


def public_archive_search(newsletter: Newsletter, words: str) -> QuerySet[Campaign]:
    """The public archive, narrowed to issues whose subject, preview line or text
    contains every word given (any case). An archive holds a few hundred issues at
    most, so this reads them without an index."""
    found = public_archive(newsletter)
    for word in words.split():
        found = found.filter(
            Q(subject__icontains=word) | Q(preheader__icontains=word) | Q(body__icontains=word)
        )
    return found


def campaigns_of(newsletter: Newsletter) -> QuerySet[Campaign]:
    """The dashboard's list: only the columns it shows, never the bodies or renders.
    Automation steps' emails are shown with their automation, not here."""
    return Campaign.objects.filter(newsletter=newsletter, kind=Kind.ISSUE).only(
        "newsletter_id",
        "name",
        "subject",
        "status",
        "failure_reason",
        "public",
        "send_at",
        "sent_at",
        "updated_at",
    )


def layouts_of(newsletter: Newsletter) -> QuerySet[Layout]:
    return Layout.objects.filter(newsletter=newsletter)
