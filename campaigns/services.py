"""Writes for campaigns and layouts: create, change, render, and say whether a campaign can go.

Every change of content from the dashboard and the API goes through here, so
validation (merge tags, MJML, Markdown, the layout's footer) is the same
everywhere. Changes of status (schedule, start, unschedule, delete) are the
sending engine's (``delivery/lifecycle.py``); content may change while a campaign
has not started (``NOT_STARTED``), under its row lock, so it cannot change under
a start. Edits made in the Django admin skip it, but ``campaign_render`` and
``campaign_sendability`` check the content again before anything is sent.
Nothing here imports ``delivery`` or ``tracking``.
"""

import copy as copy_module
from collections.abc import Iterable
from dataclasses import dataclass, replace

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext
from lxml import html as lxml_html

from newsletter.links import absolute_url
from newsletter.models import Newsletter
from subscribers import tokens
from subscribers.models import MailingList, Subscriber, SubscriberStatus, SubscriptionStatus

from . import editions, extensions, reader_links, rendering
from .models import (
    NOT_STARTED,
    BodyFormat,
    Campaign,
    Edition,
    EditionStatus,
    Kind,
    Layout,
    Status,
)
from .rendering import DEFAULT_LAYOUTS, Level, Recipient, Rendered, RenderInput, Source
from .rendering.conditions import Template
from .rendering.conditions import parse as parse_conditions

SAMPLE_BODY = "## Sample content\n\nYour campaign's body appears here."
# Which form field each source of problems belongs to.
FIELD_OF_SOURCE = {
    Source.BODY: "body",
    Source.LAYOUT: "layout",
    Source.SUBJECT: "subject",
    Source.PREHEADER: "preheader",
    Source.MESSAGE: None,
}
EDITABLE_FIELDS = (
    "name",
    "slug",
    "subject",
    "preheader",
    "layout",
    "body_format",
    "body",
    "public",
    "edition_fallback",
)
# How it is delivered rather than what it says: set on the send page and through the
# API, never by the editor's content form (which would clear it on every save).
DELIVERY_FIELDS = ("local_hour",)

# "Leave the segment as it is", as opposed to None ("no segment").
NO_CHANGE = object()

RENDER_FIELDS = (
    "rendered_digest",
    "rendered_subject",
    "rendered_html",
    "rendered_text",
    "rendered_html_bytes",
    "render_problems",
)


def install_default_layouts(*, newsletter: Newsletter) -> list[Layout]:
    """Give a newsletter the three stock layouts; existing ones (by name) are left as edited."""
    layouts = []
    for stock in DEFAULT_LAYOUTS:
        layout, _ = Layout.objects.get_or_create(
            newsletter=newsletter,
            name=stock.name,
            defaults={"description": stock.description, "mjml": stock.mjml()},
        )
        layouts.append(layout)
    return layouts


def render_source(
    *,
    newsletter: Newsletter,
    layout: str,
    body: str,
    body_format: str,
    subject: str,
    preheader: str = "",
) -> RenderInput:
    """The pipeline's input for this content, with what other apps add (reader links,
    blocks: ``campaigns.extensions``); every render of the newsletter's content uses it."""
    return RenderInput(
        layout=layout,
        body=body,
        body_format=body_format,
        subject=subject,
        preheader=preheader,
        newsletter_name=newsletter.name,
        postal_address=newsletter.postal_address,
        # Only a body with conditional blocks asks which lists exist.
        known_lists=tuple(newsletter.lists.values_list("slug", flat=True))
        if "{%" in body
        else None,
        **extensions.render_extras(newsletter=newsletter, body=body),
    )


def render_input(*, campaign: Campaign) -> RenderInput:
    return render_source(
        newsletter=campaign.newsletter,
        layout=campaign.layout.mjml,
        body=campaign.body,
        body_format=campaign.body_format,
        subject=campaign.subject,
        preheader=campaign.preheader,
    )


def campaign_render(*, campaign: Campaign) -> Rendered:
    """The campaign's render, from the cache when its inputs have not changed.

    A draft's stale cache (the campaign, its layout or the newsletter's address
    changed) is redone and stored, so the pipeline runs once per change, not per
    recipient; so is a scheduled one's, which is checked again when it starts.
    Once sending starts the render is frozen: what was sent is what the archive
    shows, whatever happens to the layout later.
    """
    cached = campaign.cached_render()
    if cached is not None and (campaign.has_started and cached.ok):
        return cached
    source = render_input(campaign=campaign)
    if cached is not None and cached.digest == source.digest():
        return cached
    result = rendering.render(source)
    _store(campaign, result)
    if campaign.pk:
        campaign.save(update_fields=RENDER_FIELDS)
    return result


def campaign_variants(*, campaign: Campaign) -> dict[str, extensions.VariantContent]:
    """The sample variants other apps give the campaign (an experiment's), by label."""
    return extensions.variants(campaign)


def campaign_variant(*, campaign: Campaign, label: str) -> tuple[Campaign, Rendered]:
    """The campaign with one variant's subject and body, and its render, for sending the
    sample: an unsaved copy (it keeps the campaign's id, for its links and tokens, and
    its stored render, which is never read for it); nothing is stored, so the campaign's
    own render stays the one the archive shows."""
    copy = _with_content(campaign, campaign_variants(campaign=campaign)[label])
    return copy, rendering.render(render_input(campaign=copy))


def campaign_adopt_variant(*, campaign: Campaign, label: str) -> Rendered:
    """The winner becomes the campaign itself: its subject and body, and the stored
    render that the rest of the audience, the archive and the web version get. The only
    change to a started campaign's content; its caller holds the row lock."""
    content = campaign_variants(campaign=campaign)[label]
    adopted = _with_content(campaign, content)
    result = rendering.render(render_input(campaign=adopted))
    campaign.subject, campaign.body = adopted.subject, adopted.body
    _store(campaign, result)
    campaign.save(update_fields=["subject", "body", *RENDER_FIELDS, "updated_at"])
    return result


def _with_content(campaign: Campaign, content: extensions.VariantContent) -> Campaign:
    copy = copy_module.copy(campaign)
    copy.subject = content.subject or campaign.subject
    copy.body = content.body or campaign.body
    return copy


def _store(campaign: Campaign | Edition, result: Rendered) -> None:
    campaign.rendered_digest = result.digest
    campaign.render_problems = [problem.as_dict() for problem in result.problems]
    campaign.rendered_html_bytes = result.html_bytes
    for field, part in (
        ("rendered_subject", result.subject),
        ("rendered_html", result.html),
        ("rendered_text", result.text),
    ):
        setattr(campaign, field, part.as_dict() if part is not None else None)


# Editions: the campaign in other languages (docs/editions.md)

EDITION_FIELDS = ("language", "status", "subject", "preheader", "body")


def edition_render_input(*, edition: Edition) -> RenderInput:
    """An edition renders with its campaign's layout and body format."""
    campaign = edition.campaign
    return render_source(
        newsletter=campaign.newsletter,
        layout=campaign.layout.mjml,
        body=edition.body,
        body_format=campaign.body_format,
        subject=edition.subject,
        preheader=edition.preheader,
    )


def edition_render(*, edition: Edition) -> Rendered:
    """The edition's render, cached and frozen like ``campaign_render``'s."""
    cached = edition.cached_render()
    if cached is not None and (edition.campaign.has_started and cached.ok):
        return cached
    source = edition_render_input(edition=edition)
    if cached is not None and cached.digest == source.digest():
        return cached
    result = rendering.render(source)
    _store(edition, result)
    if edition.pk:
        edition.save(update_fields=RENDER_FIELDS)
    return result


def _check_language(edition: Edition) -> None:
    """A language code, not the newsletter's own (the campaign is that edition), once."""
    edition.language = editions.normalize_language(edition.language)
    if error := editions.language_error(edition.language):
        raise ValidationError({"language": error})
    newsletter = edition.campaign.newsletter
    if edition.language == newsletter.language:
        raise ValidationError(
            {
                "language": gettext(
                    "The campaign itself is the %(name)s edition (the newsletter's language); "
                    "choose another language."
                )
                % {"name": editions.language_name(newsletter.language)}
            }
        )
    taken = Edition.objects.filter(campaign=edition.campaign, language=edition.language)
    if edition.pk:
        taken = taken.exclude(pk=edition.pk)
    if taken.exists():
        raise ValidationError(
            {"language": gettext("This campaign already has an edition in this language.")}
        )


def _save_edition(edition: Edition) -> Edition:
    _check_language(edition)
    if edition.status not in EditionStatus.values:
        raise ValidationError({"status": gettext("Choose pending or ready.")})
    result = rendering.render(edition_render_input(edition=edition))
    _raise_for_errors(result)
    _store(edition, result)
    edition.full_clean(exclude=["campaign"], validate_constraints=False)
    edition.save()
    return edition


@transaction.atomic
def edition_create(
    *,
    campaign: Campaign,
    language: str,
    subject: str,
    body: str,
    preheader: str = "",
    status: str = EditionStatus.PENDING,
) -> Edition:
    """Add an edition to a campaign that has not started; validated like its body, by field."""
    _locked_not_started(campaign)
    return _save_edition(
        Edition(
            campaign=campaign,
            language=language,
            status=status,
            subject=subject,
            preheader=preheader,
            body=body,
        )
    )


@transaction.atomic
def edition_update(*, edition: Edition, **changes: object) -> Edition:
    """Change any of ``EDITION_FIELDS`` (marking it ready is one) while nothing has left."""
    _locked_not_started(edition.campaign)
    unknown = set(changes) - set(EDITION_FIELDS)
    if unknown:
        raise TypeError(f"edition_update() cannot change {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(edition, field, value)
    return _save_edition(edition)


@transaction.atomic
def edition_delete(*, edition: Edition) -> None:
    _locked_not_started(edition.campaign)
    edition.delete()


def edition_readers(
    *, campaign: Campaign, languages: list[str], list_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """How many confirmed readers of the campaign's lists (or of ``list_ids``, the lists
    the send page chose) each edition would reach now.

    Grouped by the language people wrote (a handful of values), then matched with
    ``editions.edition_for``: the rule the sending engine applies in SQL.
    """
    if not languages:
        return {}
    lists = campaign.newsletter.lists.active()
    lists = (
        lists.filter(pk__in=list(list_ids))
        if list_ids is not None
        else lists.filter(campaigns=campaign)
    )
    rows = (
        Subscriber.objects.filter(
            newsletter_id=campaign.newsletter_id,
            status=SubscriberStatus.ACTIVE,
            email__isnull=False,
            subscriptions__status=SubscriptionStatus.CONFIRMED,
            subscriptions__mailing_list__in=lists,
        )
        .exclude(language="")
        .values("language")
        .annotate(count=Count("id", distinct=True))
    )
    counts: dict[str, int] = {}
    for row in rows:
        if found := editions.edition_for(row["language"], languages):
            counts[found] = counts.get(found, 0) + row["count"]
    return counts


@dataclass(frozen=True)
class EditionFacts:
    """An edition as the editor and the API see it: who it reaches, whether it renders."""

    edition: Edition
    name: str
    readers: int
    result: Rendered

    @property
    def flagged(self) -> bool:
        """No reader of the campaign's lists has this language: allowed, but worth a look."""
        return self.readers == 0


def campaign_editions(
    *, campaign: Campaign, list_ids: Iterable[int] | None = None
) -> list[EditionFacts]:
    """The campaign's editions with the readers each reaches (of its lists, or of
    ``list_ids``) and their render."""
    # Read afresh: a campaign fetched with its editions prefetched may predate a change.
    found = list(Edition.objects.filter(campaign=campaign).select_related("campaign"))
    counts = edition_readers(
        campaign=campaign, languages=[e.language for e in found], list_ids=list_ids
    )
    return [
        EditionFacts(
            edition=edition,
            name=editions.language_name(edition.language),
            readers=counts.get(edition.language, 0),
            result=edition_render(edition=edition),
        )
        for edition in found
    ]


def editions_to_send(*, campaign: Campaign) -> list[str]:
    """The languages whose edition goes out: the ready ones (pending readers get the
    default, which is only allowed with ``edition_fallback``: ``edition_problems``)."""
    return list(
        campaign.editions.filter(status=EditionStatus.READY).values_list("language", flat=True)
    )


def edition_problems(*, campaign: Campaign, list_ids: Iterable[int] | None = None) -> list[str]:
    """Why the editions stop the campaign from going, for the editor: a translation still
    pending that readers would get (one reason naming them all, unless the editor chose
    to send those readers the default edition), and any error of an edition that goes.

    The dashboard, the API, the send confirmation and the engine's start all ask here."""
    facts = campaign_editions(campaign=campaign, list_ids=list_ids)
    reasons = []
    pending = [f for f in facts if not f.edition.is_ready and f.readers]
    if pending and not campaign.edition_fallback:
        names = ", ".join(
            ngettext("%(name)s (%(count)d reader)", "%(name)s (%(count)d readers)", f.readers)
            % {"name": f.name, "count": f.readers}
            for f in pending
        )
        reasons.append(
            gettext(
                "Translations still pending: %(editions)s. Mark them ready, or choose to send "
                "those readers the default edition."
            )
            % {"editions": names}
        )
    for f in facts:
        if f.edition.is_ready:
            reasons += [f"{f.name}: {problem.located()}" for problem in f.result.errors]
    return reasons


class Variants:
    """Which message each reader gets: their edition, then the facts that pick among the
    conditional blocks of its body (``rendering.conditions``).

    Each distinct (edition, facts) met is rendered once, when first met, and kept;
    a campaign with neither editions nor conditions has only the one render.
    """

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.default = campaign.newsletter.language
        self.editions = {edition.language: edition for edition in campaign.editions.all()}
        self.templates: dict[str, Template] = {
            language: parse_conditions(body, body_format=campaign.body_format)[0]
            for language, body in [
                (self.default, campaign.body),
                *((e.language, e.body) for e in self.editions.values()),
            ]
        }
        self.list_slugs = frozenset().union(*(t.list_slugs() for t in self.templates.values()))

    @property
    def vary(self) -> bool:
        """Whether readers may get different messages at all."""
        return bool(self.editions) or any(t.has_conditions for t in self.templates.values())

    def key(
        self, *, edition: str, lists: frozenset[str], language: str, attributes: dict
    ) -> tuple[str, frozenset[str]]:
        """The variant a reader gets: an edition recorded for them (or the default) and
        the facts of its body that hold for them."""
        if edition not in self.editions:
            edition = self.default
        template = self.templates[edition]
        if not template.has_conditions:
            return edition, frozenset()
        return edition, template.facts(lists=lists, language=language, attributes=attributes)

    def reader_render(self, subscriber: Subscriber) -> Rendered:
        """The message one reader gets, for their own web version."""
        if not self.vary:
            return campaign_render(campaign=self.campaign)
        ready = [language for language, edition in self.editions.items() if edition.is_ready]
        lists: set[str] = set()
        if self.list_slugs:
            lists = set(
                subscriber.subscriptions.filter(
                    status=SubscriptionStatus.CONFIRMED, mailing_list__slug__in=self.list_slugs
                ).values_list("mailing_list__slug", flat=True)
            )
        key = self.key(
            edition=editions.edition_for(subscriber.language, ready) or self.default,
            lists=frozenset(lists),
            language=subscriber.language,
            attributes=subscriber.attributes,
        )
        return self.render(key)

    def render(self, key: tuple[str, frozenset[str]]) -> Rendered:
        edition, shown = key
        if edition == self.default:
            if not shown:
                return campaign_render(campaign=self.campaign)
            return rendering.render(replace(render_input(campaign=self.campaign), shown=shown))
        found = self.editions[edition]
        if not shown:
            return edition_render(edition=found)
        return rendering.render(replace(edition_render_input(edition=found), shown=shown))


def _raise_for_errors(result: Rendered, *, layout_field: str = "layout") -> None:
    errors: dict[str, list[str]] = {}
    for problem in result.errors:
        field = FIELD_OF_SOURCE[problem.source]
        if field == "layout":
            field = layout_field
        errors.setdefault(field or "__all__", []).append(str(problem))
    if errors:
        raise ValidationError(errors)


def _unique_slug(*, newsletter: Newsletter, wanted: str, name: str, exclude_pk=None) -> str:
    base = slugify(wanted or name)[:90] or "campaign"
    taken = Campaign.objects.filter(newsletter=newsletter)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if wanted:
        if taken.filter(slug=base).exists():
            raise ValidationError({"slug": "Another campaign of this newsletter uses this slug."})
        return base
    slug, counter = base, 2
    while taken.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    return slug


@transaction.atomic
def campaign_create(
    *,
    newsletter: Newsletter,
    created_by,
    name: str,
    subject: str,
    layout: Layout,
    body: str,
    body_format: str = BodyFormat.MARKDOWN,
    preheader: str = "",
    public: bool = False,
    slug: str = "",
    lists: list[MailingList] | None = None,
    local_hour: int | None = None,
    segment=None,
    kind: str = Kind.ISSUE,
    edition_fallback: bool = False,
) -> Campaign:
    """Create a draft; raises ValidationError (by field, with lines) if it cannot render.
    ``segment`` (an ``audiences.Segment`` of the newsletter) narrows its lists.

    ``kind=Kind.AUTOMATION``: the email of an automation's step (``automations``)."""
    if layout.newsletter_id != newsletter.pk:
        raise ValidationError({"layout": "This layout belongs to another newsletter."})
    campaign = Campaign(
        newsletter=newsletter,
        created_by=created_by,
        name=name,
        slug=_unique_slug(newsletter=newsletter, wanted=slug, name=name),
        subject=subject,
        preheader=preheader,
        layout=layout,
        body_format=body_format,
        body=body,
        public=public,
        local_hour=local_hour,
        kind=kind,
        edition_fallback=edition_fallback,
    )
    result = rendering.render(render_input(campaign=campaign))
    _raise_for_errors(result)
    _store(campaign, result)
    campaign.full_clean()
    campaign.save()
    if lists or segment is not None:
        _set_lists(campaign, lists or [], scheduled=False, segment=segment)
    return campaign


def _locked_not_started(campaign: Campaign) -> Campaign:
    """The campaign's row, locked, if nothing of it has left yet; the engine takes the
    same lock to start it, so an edit and a start never overlap."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not locked.content_editable:
        raise ValidationError(
            gettext("Only a campaign that has not started can be changed; this one is %(status)s.")
            % {"status": locked.get_status_display().lower()},
            code="started",
        )
    return locked


def _set_lists(
    campaign: Campaign, lists: list[MailingList], *, scheduled: bool, segment=NO_CHANGE
) -> None:
    """Set who the campaign goes to: lists, and a segment when ``segment`` is given (a
    Segment or None). A segment alone means every list of the newsletter, narrowed."""
    lists = list(lists)
    if segment is not NO_CHANGE:
        if segment is not None and segment.newsletter_id != campaign.newsletter_id:
            raise ValidationError(
                {"segment": gettext("This segment belongs to another newsletter.")}
            )
        campaign.segment = segment
        campaign.save(update_fields=["segment", "updated_at"])
    if any(mailing_list.newsletter_id != campaign.newsletter_id for mailing_list in lists):
        raise ValidationError({"lists": gettext("This list belongs to another newsletter.")})
    archived = [mailing_list.name for mailing_list in lists if mailing_list.archived_at]
    if archived:
        raise ValidationError(
            {
                "lists": gettext("Archived lists get no new campaigns: %(names)s.")
                % {"names": ", ".join(archived)}
            }
        )
    if scheduled and not lists and campaign.segment_id is None:
        raise ValidationError(
            {"lists": gettext("A scheduled campaign needs a list; unschedule it first.")}
        )
    campaign.lists.set(lists)


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes: object) -> Campaign:
    """Change a campaign that has not started: any of ``EDITABLE_FIELDS`` and
    ``DELIVERY_FIELDS``, and ``lists``.

    Validated like ``campaign_create``. A scheduled campaign stays scheduled, so it
    must still render and keep a list; a failed one stays failed until it is
    scheduled or sent again (``delivery.lifecycle``).
    """
    locked = _locked_not_started(campaign)
    lists = changes.pop("lists", None)
    segment = changes.pop("segment", NO_CHANGE)
    unknown = set(changes) - {*EDITABLE_FIELDS, *DELIVERY_FIELDS}
    if unknown:
        raise TypeError(f"campaign_update() cannot change {', '.join(sorted(unknown))}")
    if "layout" in changes and changes["layout"].newsletter_id != campaign.newsletter_id:
        raise ValidationError({"layout": "This layout belongs to another newsletter."})
    for field, value in changes.items():
        setattr(campaign, field, value)
    campaign.status, campaign.send_at = locked.status, locked.send_at
    campaign.slug = _unique_slug(
        newsletter=campaign.newsletter,
        wanted=campaign.slug,
        name=campaign.name,
        exclude_pk=campaign.pk,
    )
    result = rendering.render(render_input(campaign=campaign))
    _raise_for_errors(result)
    _store(campaign, result)
    campaign.full_clean()
    # Only what an edit changes: the status is the engine's to write.
    campaign.save(update_fields=[*EDITABLE_FIELDS, *DELIVERY_FIELDS, *RENDER_FIELDS, "updated_at"])
    if lists is not None or segment is not NO_CHANGE:
        _set_lists(
            campaign,
            campaign.lists.all() if lists is None else lists,
            scheduled=locked.status == Status.SCHEDULED,
            segment=segment,
        )
    return campaign


@transaction.atomic
def campaign_set_lists(
    *, campaign: Campaign, lists: list[MailingList], segment=NO_CHANGE
) -> Campaign:
    """Who it goes to, while it has not started (the send page, the API): lists, and
    a segment (or None for none) when ``segment`` is given."""
    locked = _locked_not_started(campaign)
    _set_lists(campaign, lists, scheduled=locked.status == Status.SCHEDULED, segment=segment)
    return campaign


COPY_NAME_LENGTH = Campaign._meta.get_field("name").max_length


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, created_by) -> Campaign:
    """A new draft with the campaign's content, layout and lists, whatever its status.

    The copy gets a slug of its own and no delivery rows. Its render is redone
    and kept even with errors (a layout edited since may break it): the editor
    sees them on the copy instead of being refused the copy. Archived lists are
    left out, as they get no new sends.
    """
    name = gettext("%(name)s (copy)") % {"name": campaign.name}
    copy = Campaign(
        newsletter=campaign.newsletter,
        created_by=created_by,
        name=name[:COPY_NAME_LENGTH],
        slug=_unique_slug(newsletter=campaign.newsletter, wanted="", name=name),
        subject=campaign.subject,
        preheader=campaign.preheader,
        layout=campaign.layout,
        body_format=campaign.body_format,
        body=campaign.body,
        public=campaign.public,
        segment=campaign.segment,
        edition_fallback=campaign.edition_fallback,
    )
    _store(copy, rendering.render(render_input(campaign=copy)))
    copy.save()
    copy.lists.set(campaign.lists.active())
    for edition in campaign.editions.all():
        edition_copy = Edition(
            campaign=copy,
            language=edition.language,
            status=edition.status,
            subject=edition.subject,
            preheader=edition.preheader,
            body=edition.body,
        )
        _store(edition_copy, rendering.render(edition_render_input(edition=edition_copy)))
        edition_copy.save()
    return copy


def _check_layout_source(*, newsletter: Newsletter, mjml: str) -> Rendered:
    result = rendering.render(
        render_source(
            newsletter=newsletter,
            layout=mjml,
            body=SAMPLE_BODY,
            body_format=BodyFormat.MARKDOWN,
            subject="Sample subject",
        )
    )
    _raise_for_errors(result, layout_field="mjml")
    return result


@transaction.atomic
def layout_create(*, newsletter: Newsletter, name: str, mjml: str, description: str = "") -> Layout:
    """Create a layout after checking it renders and carries the required footer."""
    _check_layout_source(newsletter=newsletter, mjml=mjml)
    layout = Layout(newsletter=newsletter, name=name, mjml=mjml, description=description)
    layout.full_clean()
    layout.save()
    return layout


@transaction.atomic
def layout_update(*, layout: Layout, name: str, mjml: str, description: str = "") -> Layout:
    """Change a layout; campaigns using it re-render on their next use (their digest changes)."""
    _check_layout_source(newsletter=layout.newsletter, mjml=mjml)
    layout.name, layout.mjml, layout.description = name, mjml, description
    layout.full_clean()
    layout.save()
    return layout


def layout_preview(*, layout: Layout) -> str:
    """The layout around sample content, as the sample recipient sees it."""
    result = rendering.render(
        render_source(
            newsletter=layout.newsletter,
            layout=layout.mjml,
            body=SAMPLE_BODY,
            body_format=BodyFormat.MARKDOWN,
            subject="Sample subject",
        )
    )
    if not result.ok:
        return ""
    return rendering.personalize(result, sample_recipient(newsletter=layout.newsletter)).html


@dataclass(frozen=True)
class Sendability:
    ok: bool
    reasons: list[str]


def campaign_sendability(*, campaign: Campaign) -> Sendability:
    """Whether the campaign may be sent now, and if not, every reason the editor must fix."""
    reasons = []
    if campaign.status not in NOT_STARTED:
        reasons.append(f"It is {campaign.get_status_display().lower()}, not a draft.")
    reasons += campaign.newsletter.sending_problems()
    result = campaign_render(campaign=campaign)
    reasons += [problem.located() for problem in result.errors]
    reasons += edition_problems(campaign=campaign)
    return Sendability(ok=not reasons, reasons=reasons)


def newsletter_page_url(newsletter: Newsletter) -> str:
    return absolute_url("subscribers:newsletter", slug=newsletter.slug)


def archive_url(campaign: Campaign) -> str:
    return settings.SITE_URL + reverse(
        "campaigns:archive",
        kwargs={"newsletter": campaign.newsletter.slug, "campaign": campaign.slug},
    )


def sample_recipient(
    *, newsletter: Newsletter, campaign: Campaign | None = None, email: str = "", name: str = ""
) -> Recipient:
    """A reader for previews and test sends: made up, or the newsletter's own contact
    when ``email`` is one (their name and attributes fill the tags; another
    newsletter's contact at that address is not this newsletter's to show).

    Its unsubscribe and preference links lead to the newsletter's public page: a
    preview or a test is not theirs to act on.
    """
    page = newsletter_page_url(newsletter)
    subscriber = (
        Subscriber.objects.filter(newsletter=newsletter).with_address(email).first()
        if email
        else None
    )
    return Recipient(
        email=email or "reader@example.org",
        name=name or (subscriber.name if subscriber else "") or "Ada Lovelace",
        attributes=subscriber.attributes if subscriber else {},
        list_name="",  # the layout's default ("this newsletter") shows
        unsubscribe_url=page,
        preferences_url=page,
        # A test reader has no copy of their own: the public archive, or the public page.
        web_version_url=archive_url(campaign) if campaign and campaign.public else page,
    )


# The web version's reader has no unsubscribe or preference link: these markers stand
# in their place, and the blocks that hold them are left out (``_without_mail_only``).
MAIL_ONLY_FRAGMENTS = ("#crier-unsubscribe", "#crier-preferences")
# Elements a layout marks as being for the mail only (the stock footers do).
MAIL_ONLY_CLASS = "crier-mail-only"


def neutral_recipient(*, campaign: Campaign) -> Recipient:
    """Nobody in particular: what the public archive shows instead of personal data.

    Tags without a value take their default (``{{ subscriber.name|default:"there" }}``);
    the web version's own link leads to the newsletter's page, where a reader of the
    archive can subscribe.
    """
    page = newsletter_page_url(campaign.newsletter)
    unsubscribe, preferences = (page + fragment for fragment in MAIL_ONLY_FRAGMENTS)
    return Recipient(
        email="",
        name="",
        attributes={},
        list_name="",
        unsubscribe_url=unsubscribe,
        preferences_url=preferences,
        web_version_url=page,
    )


ARCHIVE_TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
ARCHIVE_ATTRIBUTES = {
    **{tag: set(attributes) for tag, attributes in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "class", "align", "valign", "width", "height", "bgcolor", "dir", "lang",
          "role", "border", "cellpadding", "cellspacing"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
}  # fmt: skip
PIXEL_SIZES = {"0", "1", "0px", "1px"}
OPEN_PIXEL_PATH = "/t/o/"  # Crier's open pixel (contract: /t/o/<token>.gif)


@dataclass(frozen=True)
class Alternate:
    language: str
    name: str
    url: str


def archive_alternates(*, campaign: Campaign) -> list[Alternate]:
    """The web version in each language it went out in, for ``hreflang`` links (the
    archive page, the feed); empty for a campaign in one language. Reads the campaign's
    editions through ``campaign.editions.all()``, so the feed can prefetch them."""
    sent = [edition for edition in campaign.editions.all() if edition.is_ready]
    if not sent:
        return []
    language = campaign.newsletter.language
    own = Alternate(
        language, editions.language_name(language), settings.SITE_URL + campaign.get_public_url()
    )
    return [own] + [
        Alternate(
            edition.language,
            editions.language_name(edition.language),
            settings.SITE_URL + edition.get_public_url(),
        )
        for edition in sent
    ]


def archive_html(*, campaign: Campaign, edition: Edition | None = None) -> str:
    """The web version: neutral values, no mail-only parts, no tracking pixels, sanitised.

    What only makes sense in a mailbox is left out: the blocks holding the
    unsubscribe and preference links (the footer's "Unsubscribe · Manage your
    preferences · View in your browser") and any element of class
    ``crier-mail-only`` ("You receive this email because…"). The cached render never
    contains tracking (the delivery engine adds it per recipient), but a layout may
    carry a third-party pixel: 1-by-1 images and Crier's own open-pixel path are
    removed all the same.
    """
    result = (
        campaign_render(campaign=campaign) if edition is None else edition_render(edition=edition)
    )
    if not result.ok:
        return ""
    message = rendering.personalize(result, neutral_recipient(campaign=campaign))
    return _web_body(message.html)


def reader_recipient(*, campaign: Campaign, subscriber: Subscriber) -> Recipient:
    """The reader as the sending engine addressed them: their name, address and
    attributes, the first of the campaign's lists they are on, and their own links."""
    claim = tokens.Claim(subscriber.pk, campaign.newsletter_id)
    list_name = (
        campaign.lists.filter(subscriptions__subscriber=subscriber)
        .order_by("name")
        .values_list("name", flat=True)
        .first()
    )
    return Recipient(
        email=subscriber.email or "",
        name=subscriber.name,
        attributes=subscriber.attributes,
        list_name=list_name or "",
        unsubscribe_url=absolute_url(
            "subscribers:unsubscribe", token=tokens.unsubscribe_token(claim)
        ),
        preferences_url=absolute_url(
            "subscribers:preferences", token=tokens.preferences_token(claim)
        ),
        web_version_url=reader_links.ReaderLinks(campaign).url(subscriber.pk),
    )


def reader_web_version(*, campaign: Campaign, subscriber: Subscriber) -> str:
    """The web version behind one reader's signed link: the message as they got it,
    personalised and with their unsubscribe link, without tracking, sanitised like
    the archive. Empty when there is nothing to show (never sent, erased reader).

    Their edition and conditional blocks are chosen as the sender chose them, from
    their language, lists and attributes now (``Variants``): editions cannot change
    once sending started, so the ready ones are those that went."""
    if not campaign.has_started or subscriber.email is None:
        return ""
    result = Variants(campaign).reader_render(subscriber)
    if not result.ok:
        return ""
    recipient = reader_recipient(campaign=campaign, subscriber=subscriber)
    return _web_body(rendering.personalize(result, recipient).html, keep_mail_parts=True)


def _web_body(document: str, *, keep_mail_parts: bool = False) -> str:
    """A rendered message as a web page's body: no tracking pixel, sanitised by nh3, and
    without the mail-only parts unless it is one reader's own copy (which keeps their
    unsubscribe and preference links)."""
    return nh3.clean(
        _page_body(document, keep_mail_parts=keep_mail_parts),
        tags=ARCHIVE_TAGS,
        clean_content_tags={"script", "style", "title"},
        attributes=ARCHIVE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
    )


MAIL_ONLY_BLOCKS = {"p", "li", "div", "td", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}


def _page_body(document: str, *, keep_mail_parts: bool) -> str:
    """The body of a rendered message, without tracking pixels and, unless asked to keep
    them, without what only makes sense in a mailbox."""
    tree = lxml_html.document_fromstring(document)
    if not keep_mail_parts:
        _without_mail_only(tree)
    _without_pixels(tree)
    body = tree.body
    return (body.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode") for child in body
    )


def _without_mail_only(tree) -> None:
    marked = f"contains(concat(' ', normalize-space(@class), ' '), ' {MAIL_ONLY_CLASS} ')"
    for element in tree.xpath(f"//*[{marked}]"):
        element.drop_tree()
    for link in tree.xpath("//a[@href]"):
        if not link.get("href", "").endswith(MAIL_ONLY_FRAGMENTS):
            continue
        block = next(
            (parent for parent in link.iterancestors() if parent.tag in MAIL_ONLY_BLOCKS), link
        )
        if block.getparent() is not None:
            block.drop_tree()


def _without_pixels(tree) -> None:
    for image in tree.xpath("//img"):
        if (
            OPEN_PIXEL_PATH in image.get("src", "")
            or _is_tiny(image)
            or _is_tiny(image.getparent())
        ):
            image.drop_tree()


def _is_tiny(element) -> bool:
    """1 pixel or less wide or high, by attribute or inline style (MJML puts it on the cell)."""
    if element is None:
        return False
    sizes = {element.get("width", "").strip(), element.get("height", "").strip()}
    for declaration in element.get("style", "").lower().split(";"):
        prop, _, value = declaration.partition(":")
        if prop.strip() in {"width", "height"}:
            sizes.add(value.strip())
    return bool(sizes & PIXEL_SIZES)


@dataclass(frozen=True)
class LivePreview:
    result: Rendered
    html: str


def live_preview(
    *,
    newsletter: Newsletter,
    layout: Layout | None,
    body: str,
    body_format: str,
    subject: str,
    preheader: str,
) -> LivePreview:
    """What unsaved content looks like for a sample reader, with its problems.

    Runs the same pipeline as sending (nothing is stored): the editor sees each
    error with its line while typing, before saving.
    """
    result = rendering.render(
        render_source(
            newsletter=newsletter,
            layout=layout.mjml if layout else "",
            body=body,
            body_format=body_format or BodyFormat.MARKDOWN,
            subject=subject,
            preheader=preheader,
        )
    )
    html = ""
    if result.ok:
        html = rendering.personalize(result, sample_recipient(newsletter=newsletter)).html
    return LivePreview(result=result, html=html)


def problems_for_display(result: Rendered) -> list[dict]:
    """Problems sorted errors first, each saying which text it is in."""
    return [
        {"level": str(problem.level), "text": problem.located()}
        for problem in sorted(result.problems, key=lambda p: p.level != Level.ERROR)
    ]
