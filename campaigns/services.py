"""Writes for campaigns and layouts: create, change, render, and say whether a campaign can go.

Every change of content from the dashboard (and the API to come) goes through
here, so validation (merge tags, MJML, Markdown, the layout's footer) is the same
everywhere. Edits made in the Django admin skip it, but ``campaign_render`` and
``campaign_sendability`` check the content again before anything is sent.
Nothing here imports ``delivery`` or ``tracking``.
"""

from dataclasses import dataclass

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.text import slugify
from lxml import html as lxml_html

from newsletter.links import absolute_url
from newsletter.models import Newsletter
from subscribers.models import Subscriber

from . import extensions, rendering
from .models import BodyFormat, Campaign, Layout, Status
from .rendering import DEFAULT_LAYOUTS, Level, Recipient, Rendered, RenderInput, Source

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
)


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
    recipient. Once a campaign leaves draft its render is frozen: what was sent
    is what the archive shows, whatever happens to the layout later.
    """
    cached = campaign.cached_render()
    if cached is not None and (campaign.status != Status.DRAFT and cached.ok):
        return cached
    source = render_input(campaign=campaign)
    if cached is not None and cached.digest == source.digest():
        return cached
    result = rendering.render(source)
    _store(campaign, result)
    if campaign.pk:
        campaign.save(update_fields=RENDER_FIELDS)
    return result


def _store(campaign: Campaign, result: Rendered) -> None:
    campaign.rendered_digest = result.digest
    campaign.render_problems = [problem.as_dict() for problem in result.problems]
    campaign.rendered_html_bytes = result.html_bytes
    for field, part in (
        ("rendered_subject", result.subject),
        ("rendered_html", result.html),
        ("rendered_text", result.text),
    ):
        setattr(campaign, field, part.as_dict() if part is not None else None)


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
) -> Campaign:
    """Create a draft; raises ValidationError (by field, with lines) if it cannot render."""
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
    )
    result = rendering.render(render_input(campaign=campaign))
    _raise_for_errors(result)
    _store(campaign, result)
    campaign.full_clean()
    campaign.save()
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes: object) -> Campaign:
    """Change a draft's content (any of ``EDITABLE_FIELDS``); validated like ``campaign_create``."""
    if campaign.status != Status.DRAFT:
        raise ValidationError(
            f"Only drafts can be edited; this campaign is {campaign.get_status_display()}."
        )
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"campaign_update() cannot change {', '.join(sorted(unknown))}")
    if "layout" in changes and changes["layout"].newsletter_id != campaign.newsletter_id:
        raise ValidationError({"layout": "This layout belongs to another newsletter."})
    for field, value in changes.items():
        setattr(campaign, field, value)
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
    campaign.save()
    return campaign


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
    if campaign.status != Status.DRAFT:
        reasons.append(f"It is {campaign.get_status_display().lower()}, not a draft.")
    result = campaign_render(campaign=campaign)
    reasons += [problem.located() for problem in result.errors]
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
    """A reader for previews and test sends: made up, or one of the newsletter's
    subscribers when ``email`` is theirs (their name and attributes fill the tags).

    Its unsubscribe and preference links lead to the newsletter's public page: a
    preview or a test is not theirs to act on.
    """
    page = newsletter_page_url(newsletter)
    subscriber = (
        Subscriber.objects.with_address(email)
        .filter(subscriptions__mailing_list__newsletter=newsletter)
        .first()
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
        web_version_url=archive_url(campaign) if campaign else page,
    )


def neutral_recipient(*, campaign: Campaign) -> Recipient:
    """Nobody in particular: what the public archive shows instead of personal data."""
    page = newsletter_page_url(campaign.newsletter)
    return Recipient(
        email="",
        name="",
        attributes={},
        list_name="",
        unsubscribe_url=page,
        preferences_url=page,
        web_version_url=archive_url(campaign),
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


def archive_html(*, campaign: Campaign) -> str:
    """The web version: neutral values, no tracking pixels, sanitised by nh3.

    The cached render never contains tracking (the delivery engine adds it per
    recipient), but a layout may carry a third-party pixel: 1-by-1 images and
    Crier's own open-pixel path are removed all the same.
    """
    result = campaign_render(campaign=campaign)
    if not result.ok:
        return ""
    message = rendering.personalize(result, neutral_recipient(campaign=campaign))
    return nh3.clean(
        _body_without_pixels(message.html),
        tags=ARCHIVE_TAGS,
        clean_content_tags={"script", "style", "title"},
        attributes=ARCHIVE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
    )


def _body_without_pixels(document: str) -> str:
    tree = lxml_html.document_fromstring(document)
    for image in tree.xpath("//img"):
        if (
            OPEN_PIXEL_PATH in image.get("src", "")
            or _is_tiny(image)
            or _is_tiny(image.getparent())
        ):
            image.drop_tree()
    body = tree.body
    return (body.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode") for child in body
    )


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
