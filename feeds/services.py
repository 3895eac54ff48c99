"""Following feeds: create and change a feed, look at what its next issue would hold,
and make that issue when its time comes.

A run fetches the feed (``fetching``: the SSRF guard, size and time limits), parses it
(``parsing``) and, in one transaction under the feed's row lock, creates the issue
(a campaign, through ``campaigns.services`` like any other) and marks its items seen
(``FeedItem``, unique per feed and item). Both commit together or not at all, so a
retried or doubled run finds the items seen and makes nothing; a period with no new
item makes nothing either. Sending goes through the sending engine's own start
(``delivery.lifecycle.campaign_start``) in that same transaction: an issue that cannot
start stays a draft, and the feed says why.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audiences.services import segment_compile
from campaigns import services as campaigns
from campaigns.models import BodyFormat, Campaign
from delivery import lifecycle
from newsletter.models import Newsletter
from subscribers.models import MailingList

from . import composing
from .fetching import FeedError, fetch
from .models import Feed, FeedAction, FeedItem
from .parsing import Item, Parsed, parse

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "name",
    "url",
    "layout",
    "segment",
    "action",
    "schedule",
    "subject",
    "intro",
    "item_template",
    "max_items",
    "public",
    "active",
)
MAX_ITEMS = 50
# A run that failed (the feed was down, not a feed for a while) is tried again this soon.
RETRY_AFTER = timedelta(hours=1)
# A claimed run holds its feed this long: a worker that dies mid-run leaves it to the next.
LEASE = timedelta(minutes=10)
SAMPLE_ITEM = Item(
    key="sample",
    title="Sample item",
    url="https://example.org/sample",
    summary="What the item says, in a few sentences.",
    author="",
    published=None,
)


# Creating and changing


def feed_create(
    *, newsletter: Newsletter, created_by, lists: list[MailingList], **fields: object
) -> Feed:
    """Follow a feed. Its address is fetched once now: an address that is refused, too
    slow, too large or not a feed is an error on ``url``, and nothing is saved."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"feed_create() got unknown fields: {', '.join(sorted(unknown))}")
    now = timezone.now()
    feed = Feed(newsletter=newsletter, created_by=created_by, **fields)
    feed.next_run_at = now  # required to validate; counted from now once valid
    parsed = _validated(feed, lists)
    feed.title = parsed.title
    feed.next_run_at = now + feed.interval
    with transaction.atomic():
        feed.save()
        feed.lists.set(lists)
    return feed


def feed_update(*, feed: Feed, lists: list[MailingList] | None = None, **changes: object) -> Feed:
    """Change a feed; validated like ``feed_create`` (its address is fetched again).
    A new schedule counts from now."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"feed_update() cannot change {', '.join(sorted(unknown))}")
    schedule_changed = "schedule" in changes and changes["schedule"] != feed.schedule
    for field, value in changes.items():
        setattr(feed, field, value)
    chosen = list(feed.lists.all()) if lists is None else list(lists)
    parsed = _validated(feed, chosen)
    feed.title = parsed.title
    if schedule_changed:
        feed.next_run_at = timezone.now() + feed.interval
    with transaction.atomic():
        feed.save()
        feed.lists.set(chosen)
    return feed


@transaction.atomic
def feed_delete(*, feed: Feed) -> None:
    """Stop following; the issues it made stay (they are campaigns like any other)."""
    Feed.objects.filter(pk=feed.pk).delete()


def _validated(feed: Feed, lists: list[MailingList]) -> Parsed:
    """Every check, cheapest first, the network last; raises ValidationError by field."""
    errors: dict[str, list[str]] = {}
    try:
        feed.full_clean(exclude=["lists", "newsletter", "created_by", "layout"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if feed.layout_id is None or feed.layout.newsletter_id != feed.newsletter_id:
        errors.setdefault("layout", []).append(gettext("Choose one of this newsletter's layouts."))
    if not 1 <= (feed.max_items or 0) <= MAX_ITEMS:
        errors.setdefault("max_items", []).append(
            gettext("Between 1 and %(most)s items.") % {"most": MAX_ITEMS}
        )
    errors.update(_list_errors(feed.newsletter_id, lists))
    errors.update(_segment_errors(feed))
    try:
        composing.check_templates(subject=feed.subject, item_template=feed.item_template)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        parsed = parse(fetch(feed.url))
    except FeedError as error:
        raise ValidationError({"url": str(error)}) from None
    _check_renders(feed, parsed)
    return parsed


def _list_errors(newsletter_id: int, lists: list[MailingList]) -> dict[str, list[str]]:
    if any(mailing_list.newsletter_id != newsletter_id for mailing_list in lists):
        return {"lists": [gettext("This list belongs to another newsletter.")]}
    archived = [mailing_list.name for mailing_list in lists if mailing_list.archived_at]
    if archived:
        return {
            "lists": [
                gettext("Archived lists get no new campaigns: %(names)s.")
                % {"names": ", ".join(archived)}
            ]
        }
    return {}


def _segment_errors(feed: Feed) -> dict[str, list[str]]:
    """A segment of this newsletter whose rules work now (its issues use it as it is
    then: one broken since makes the run fail by name, never widen to whole lists)."""
    if feed.segment is None:
        return {}
    if feed.segment.newsletter_id != feed.newsletter_id:
        return {"segment": [gettext("No such segment in this newsletter.")]}
    try:
        segment_compile(segment=feed.segment)
    except ValidationError as error:
        return {
            "segment": [
                gettext("Its rules no longer work: %(why)s") % {"why": " ".join(error.messages)}
            ]
        }
    return {}


def _check_renders(feed: Feed, parsed: Parsed) -> None:
    """An issue made of the feed's items as they are now (or a sample) must render."""
    issue = _compose(feed, parsed, parsed.items[: feed.max_items] or [SAMPLE_ITEM])
    preview = campaigns.live_preview(
        newsletter=feed.newsletter,
        layout=feed.layout,
        body=issue.body,
        body_format=BodyFormat.MARKDOWN,
        subject=issue.subject,
        preheader="",
    )
    errors: dict[str, list[str]] = {}
    for problem in preview.result.errors:
        field = {"subject": "subject", "layout": "layout"}.get(str(problem.source), "item_template")
        errors.setdefault(field, []).append(problem.located())
    if errors:
        raise ValidationError(errors)


def _compose(feed: Feed, parsed: Parsed, items: list[Item]) -> composing.Issue:
    return composing.compose(
        feed_name=feed.name,
        feed_title=parsed.title,
        subject=feed.subject,
        intro=feed.intro,
        item_template=feed.item_template,
        items=items,
        today=_local(feed, timezone.now()),
    )


def _local(feed: Feed, moment: datetime) -> datetime:
    """A moment in the newsletter's own time zone (the issue's date and name)."""
    return timezone.localtime(moment, ZoneInfo(feed.newsletter.timezone))


# What the next issue would hold


@dataclass(frozen=True)
class Check:
    """A look at the feed now, nothing written: the next issue's items and render."""

    title: str
    items: list[Item]  # what the next issue would carry, newest first
    skipped: int  # new items older than the newest ``max_items``
    seen: int  # items of the feed already in an issue (or skipped before)
    subject: str
    html: str
    problems: list[dict]


def feed_check(*, feed: Feed) -> Check:
    """Fetch the feed and show what an issue made now would contain; raises FeedError."""
    parsed = parse(fetch(feed.url))
    fresh = _new_items(feed, parsed)
    carried = fresh[: feed.max_items]
    subject, html, problems = "", "", []
    if carried:
        issue = _compose(feed, parsed, carried)
        preview = campaigns.live_preview(
            newsletter=feed.newsletter,
            layout=feed.layout,
            body=issue.body,
            body_format=BodyFormat.MARKDOWN,
            subject=issue.subject,
            preheader="",
        )
        subject, html = issue.subject, preview.html
        problems = campaigns.problems_for_display(preview.result)
    return Check(
        title=parsed.title,
        items=carried,
        skipped=len(fresh) - len(carried),
        seen=len(parsed.items) - len(fresh),
        subject=subject,
        html=html,
        problems=problems,
    )


def _new_items(feed: Feed, parsed: Parsed) -> list[Item]:
    """The feed's items no issue has carried, newest first, each key once."""
    unique: dict[str, Item] = {}
    for item in parsed.items:  # a key given twice counts once, at its newest place
        unique.setdefault(item.key, item)
    seen = set(
        FeedItem.objects.filter(feed=feed, key__in=list(unique)).values_list("key", flat=True)
    )
    return [item for key, item in unique.items() if key not in seen]


# Making issues


def run_due_feeds(*, now: datetime | None = None) -> list[int]:
    """Run every active feed whose time has come (beat, every minute); the ids of the
    issues made."""
    now = now or timezone.now()
    due = Feed.objects.filter(active=True, next_run_at__lte=now).values_list("pk", flat=True)
    made = []
    for feed_id in list(due):
        campaign = feed_run(feed_id=feed_id, now=now)
        if campaign is not None:
            made.append(campaign.pk)
    return made


def feed_run(*, feed_id: int, now: datetime | None = None, force: bool = False) -> Campaign | None:
    """Make the feed's issue from its new items, if it is due (or ``force``: "make it
    now" in the dashboard). Returns the issue, or None when there was nothing new,
    nothing due, or the feed could not be read (``last_error`` says why)."""
    now = now or timezone.now()
    feed = _claim(feed_id, now, force=force)
    if feed is None:
        return None
    try:
        parsed = parse(fetch(feed.url))
    except FeedError as error:
        _failed(feed_id, str(error), now)
        return None
    try:
        return _issue(feed_id, parsed, now)
    except ValidationError as error:  # the layout or a template no longer renders
        _failed(feed_id, " ".join(error.messages), now)
        return None


@transaction.atomic
def _claim(feed_id: int, now: datetime, *, force: bool) -> Feed | None:
    """Hold a due feed for this run (its next time moved a lease ahead), so beat's next
    tick does not fetch it again meanwhile; None if another run has it or made it."""
    feeds = Feed.objects.select_for_update(skip_locked=True).select_related("newsletter")
    feed = feeds.filter(pk=feed_id).first()
    if feed is None or not (force or (feed.active and feed.next_run_at <= now)):
        return None
    if not force:
        feed.next_run_at = now + LEASE
        feed.save(update_fields=["next_run_at"])
    return feed


@transaction.atomic
def _issue(feed_id: int, parsed: Parsed, now: datetime) -> Campaign | None:
    """The issue and its items' "seen" marks, in one transaction under the feed's lock."""
    feed = (
        Feed.objects.select_for_update(of=("self",))
        .select_related("newsletter", "layout", "segment")
        .get(pk=feed_id)
    )
    fresh = _new_items(feed, parsed)
    carried, skipped = fresh[: feed.max_items], fresh[feed.max_items :]
    feed.title = parsed.title or feed.title
    feed.last_run_at, feed.last_error = now, ""
    feed.next_run_at = now + feed.interval
    campaign = None
    if carried:
        campaign = _create_issue(feed, parsed, carried, now)
        FeedItem.objects.bulk_create(
            [_seen(feed, item, campaign) for item in carried]
            + [_seen(feed, item, None) for item in skipped]
        )
        if feed.action == FeedAction.SEND:
            feed.last_error = _start(campaign)
    feed.save(update_fields=["title", "last_run_at", "last_error", "next_run_at"])
    logger.info(
        "feed run",
        extra={"feed": feed.pk, "items": len(carried), "campaign": campaign and campaign.pk},
    )
    return campaign


def _create_issue(feed: Feed, parsed: Parsed, items: list[Item], now: datetime) -> Campaign:
    issue = _compose(feed, parsed, items)
    name = f"{feed.name} · {_local(feed, now):%Y-%m-%d %H:%M}"
    return campaigns.campaign_create(
        newsletter=feed.newsletter,
        created_by=feed.created_by,
        name=name[:200],
        subject=issue.subject,
        layout=feed.layout,
        body=issue.body,
        body_format=BodyFormat.MARKDOWN,
        public=feed.public,
        lists=list(feed.lists.active()),
        segment=feed.segment,
    )


def _start(campaign: Campaign) -> str:
    """Send the issue now; if it cannot start, it stays a draft and this says why."""
    try:
        with transaction.atomic():
            lifecycle.campaign_start(campaign=campaign)
    except lifecycle.CampaignStateError as error:
        return gettext("The issue “%(name)s” was kept as a draft: %(reason)s") % {
            "name": campaign.name,
            "reason": error,
        }
    return ""


def _seen(feed: Feed, item: Item, campaign: Campaign | None) -> FeedItem:
    return FeedItem(
        feed=feed,
        key=item.key,
        title=item.title[:500],
        url=item.url,
        published=item.published,
        campaign=campaign,
    )


@transaction.atomic
def _failed(feed_id: int, reason: str, now: datetime) -> None:
    """Say why on the feed and try again within the hour; nothing is marked seen."""
    feed = Feed.objects.select_for_update().filter(pk=feed_id).first()
    if feed is None:
        return
    feed.last_run_at, feed.last_error = now, reason
    feed.next_run_at = now + min(RETRY_AFTER, feed.interval)
    feed.save(update_fields=["last_run_at", "last_error", "next_run_at"])
    logger.warning("feed run failed", extra={"feed": feed_id, "reason": reason})
