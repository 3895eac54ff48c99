"""Dashboard pages for campaigns and layouts, and the public archive and feed.

Views parse input, call a service, and render; rules live in ``services``. The
views that also change a campaign's status or send it live in ``dashboard``
(the editor with its "Send at", scheduling, deleting, the test send): campaigns
never import delivery.
"""

import secrets
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.syndication.views import Feed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from newsletter.access import member_required
from newsletter.csp import MAIL_PREVIEW_POLICY
from newsletter.forms import add_service_errors
from newsletter.models import Newsletter, Role
from subscribers.models import Subscriber

from . import editions, extensions, reader_links, rendering, selectors, services
from .forms import (
    CampaignForm,
    EditionForm,
    ImageForm,
    LayoutForm,
    SampleRecipientForm,
    TestSendForm,
)
from .images import image_upload
from .models import Edition, EditionStatus, Status

PREVIEW_VIEWS = {"desktop", "mobile", "text"}


@member_required(Role.VIEWER)
def campaign_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "newsletter": newsletter,
            "campaigns": selectors.campaigns_of(newsletter),
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
    )


@require_POST
@member_required(Role.EDITOR)
def campaign_duplicate(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A new draft from any campaign, opened in the editor to rename and change it."""
    campaign = get_object_or_404(newsletter.campaigns.select_related("layout"), pk=pk)
    copy = services.campaign_duplicate(campaign=campaign, created_by=request.user)
    messages.success(request, _("Copied as a new draft, “%(name)s”.") % {"name": copy.name})
    return redirect("dashboard:campaign_edit", slug=newsletter.slug, pk=copy.pk)


def _edition_asked(request: HttpRequest, campaign) -> Edition | None:
    """The edition ``?edition=fr`` names (404 if the campaign has none in that language),
    or None for the campaign's own content."""
    language = request.GET.get("edition", "")
    if not language:
        return None
    return get_object_or_404(campaign.editions.select_related("campaign"), language=language)


def _render_of(campaign, edition: Edition | None) -> rendering.Rendered:
    if edition is None:
        return services.campaign_render(campaign=campaign)
    return services.edition_render(edition=edition)


@member_required(Role.VIEWER)
def campaign_preview(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Problems, whether it can be sent, and the message as a sample reader sees it, in
    the campaign's own language or one of its editions (``?edition=fr``)."""
    campaign = get_object_or_404(newsletter.campaigns.select_related("layout"), pk=pk)
    edition = _edition_asked(request, campaign)
    result = _render_of(campaign, edition)
    view = request.GET.get("view", "desktop")
    if view not in PREVIEW_VIEWS:
        view = "desktop"
    sample = SampleRecipientForm(request.GET or None)
    sample_data = (
        {key: value for key, value in sample.cleaned_data.items() if value}
        if sample.is_valid()
        else {}
    )
    query = {**sample_data, **({"edition": edition.language} if edition else {})}
    text = ""
    if result.ok and view == "text":
        recipient = services.sample_recipient(
            newsletter=newsletter, campaign=campaign, **sample_data
        )
        text = rendering.personalize(result, recipient).text
    return render(
        request,
        "campaigns/campaign_preview.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "result": result,
            "problems": services.problems_for_display(result),
            # Whether its content can go is a draft's question; any other campaign shows
            # its facts. The send page applies the whole rule (delivery.lifecycle).
            "send_problems": services.content_problems(campaign=campaign)
            if campaign.status == Status.DRAFT
            else None,
            "lists": campaign.lists.all(),
            "view": view,
            "text": text,
            "sample": sample,
            "sample_query": urlencode(query) if query else "",
            "edition": edition,
            "editions": services.campaign_editions(campaign=campaign),
            "language_name": editions.language_name(newsletter.language),
            "test_form": TestSendForm(),
            "can_edit": Role.includes(request.role, Role.EDITOR),
            "size_kb": result.html_bytes / 1024,
        },
    )


@member_required(Role.VIEWER)
@xframe_options_sameorigin
@csp_replace(MAIL_PREVIEW_POLICY)
def campaign_preview_html(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """The HTML part alone, for a sandboxed iframe: campaign HTML never runs script here."""
    campaign = get_object_or_404(newsletter.campaigns.select_related("layout"), pk=pk)
    result = _render_of(campaign, _edition_asked(request, campaign))
    if not result.ok:
        raise Http404("This campaign does not render; fix its errors first.")
    sample = SampleRecipientForm(request.GET or None)
    recipient = services.sample_recipient(
        newsletter=newsletter,
        campaign=campaign,
        **(sample.cleaned_data if sample.is_valid() else {}),
    )
    html = rendering.personalize(result, recipient).html
    return HttpResponse(html, content_type="text/html; charset=utf-8")


LIVE_PREVIEW_SECONDS = 600


@require_POST
@member_required(Role.EDITOR)
def campaign_live_preview(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """The compose page's preview of what is typed now, refreshed as the editor types.

    The HTML waits in the cache under a random key for the sandboxed iframe to
    fetch: an iframe's inline ``srcdoc`` would inherit the dashboard's strict CSP,
    which the mail's inline styles must not be subjected to.
    """
    form = CampaignForm(request.POST, newsletter=newsletter)
    form.is_valid()
    values = form.cleaned_data
    preview = services.live_preview(
        newsletter=newsletter,
        layout=values.get("layout"),
        body=values.get("body", ""),
        body_format=values.get("body_format", ""),
        subject=values.get("subject", ""),
        preheader=values.get("preheader", ""),
    )
    key = ""
    if preview.html:
        key = secrets.token_urlsafe(16)
        cache.set(_live_preview_key(newsletter, key), preview.html, LIVE_PREVIEW_SECONDS)
    return render(
        request,
        "campaigns/_live_preview.html",
        {
            "newsletter": newsletter,
            "key": key,
            "problems": services.problems_for_display(preview.result),
        },
    )


def _live_preview_key(newsletter: Newsletter, key: str) -> str:
    return f"campaigns:live-preview:{newsletter.pk}:{key}"


@member_required(Role.EDITOR)
@xframe_options_sameorigin
@csp_replace(MAIL_PREVIEW_POLICY)
def campaign_live_preview_html(
    request: HttpRequest, newsletter: Newsletter, key: str
) -> HttpResponse:
    html = cache.get(_live_preview_key(newsletter, key))
    if html is None:
        raise Http404("This preview has expired; type to refresh it.")
    return HttpResponse(html, content_type="text/html; charset=utf-8")


def _campaign_for_editions(
    request: HttpRequest, newsletter: Newsletter, pk: int
) -> tuple[object, HttpResponse | None]:
    """The campaign, or where to go instead once it has started (its content is frozen)."""
    campaign = get_object_or_404(newsletter.campaigns.select_related("layout", "newsletter"), pk=pk)
    if campaign.has_started:
        messages.info(request, _("It has started sending: its content can no longer change."))
        return campaign, redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=pk)
    return campaign, None


@member_required(Role.EDITOR)
def edition_create(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign, elsewhere = _campaign_for_editions(request, newsletter, pk)
    return elsewhere or _edition_form(request, newsletter, campaign, edition=None)


@member_required(Role.EDITOR)
def edition_edit(
    request: HttpRequest, newsletter: Newsletter, pk: int, language: str
) -> HttpResponse:
    """Edit an edition, mark it ready, or remove it (``action=delete``)."""
    campaign, elsewhere = _campaign_for_editions(request, newsletter, pk)
    if elsewhere:
        return elsewhere
    edition = get_object_or_404(campaign.editions.select_related("campaign"), language=language)
    if request.method == "POST" and request.POST.get("action") == "delete":
        services.edition_delete(edition=edition)
        messages.success(
            request,
            _("The %(language)s edition is removed.")
            % {"language": editions.language_name(edition.language)},
        )
        return redirect("dashboard:campaign_edit", slug=newsletter.slug, pk=campaign.pk)
    return _edition_form(request, newsletter, campaign, edition=edition)


def _edition_form(request: HttpRequest, newsletter: Newsletter, campaign, *, edition):
    form = EditionForm(request.POST or None, instance=edition, campaign=campaign)
    if request.method == "POST" and form.is_valid():
        try:
            if edition is None:
                edition = services.edition_create(campaign=campaign, **form.edition_values())
            else:
                services.edition_update(edition=edition, **form.edition_values())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("The %(language)s edition is saved.")
                % {"language": editions.language_name(edition.language)},
            )
            return redirect("dashboard:campaign_edit", slug=newsletter.slug, pk=campaign.pk)
    return render(
        request,
        "campaigns/edition_form.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "edition": edition,
            "form": form,
            "default_language": editions.language_name(newsletter.language),
        },
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def layout_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    return render(
        request,
        "campaigns/layout_list.html",
        {
            "newsletter": newsletter,
            "layouts": selectors.layouts_of(newsletter),
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
    )


@require_POST
@member_required(Role.EDITOR)
def layout_install_defaults(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    services.install_default_layouts(newsletter=newsletter)
    messages.success(request, _("The default layouts are installed."))
    return redirect("dashboard:layout_list", slug=newsletter.slug)


@member_required(Role.EDITOR)
def layout_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    return _layout_form(request, newsletter, layout=None)


@member_required(Role.EDITOR)
def layout_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    return _layout_form(request, newsletter, layout=get_object_or_404(newsletter.layouts, pk=pk))


def _layout_form(request: HttpRequest, newsletter: Newsletter, *, layout) -> HttpResponse:
    form = LayoutForm(request.POST or None, instance=layout)
    if request.method == "POST" and form.is_valid():
        try:
            if layout is None:
                layout = services.layout_create(newsletter=newsletter, **form.cleaned_data)
            else:
                services.layout_update(layout=layout, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Layout saved."))
            return redirect(layout)
    return render(
        request,
        "campaigns/layout_form.html",
        {"newsletter": newsletter, "form": form, "layout": layout},
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
@xframe_options_sameorigin
@csp_replace(MAIL_PREVIEW_POLICY)
def layout_preview_html(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    layout = get_object_or_404(newsletter.layouts, pk=pk)
    html = services.layout_preview(layout=layout)
    if not html:
        raise Http404("This layout does not render; fix its errors first.")
    return HttpResponse(html, content_type="text/html; charset=utf-8")


ARCHIVE_PAGE_SIZE = 20


def archive_index(request: HttpRequest, newsletter: str) -> HttpResponse:
    """Every public issue, newest first, by pages of 20, searchable by words."""
    newsletter_obj = get_object_or_404(Newsletter, slug=newsletter)
    words = request.GET.get("q", "").strip()[:200]
    issues = Paginator(
        selectors.public_archive_search(newsletter_obj, words).only(
            "newsletter", "slug", "subject", "preheader", "sent_at"
        ),
        ARCHIVE_PAGE_SIZE,
    )
    page = issues.get_page(request.GET.get("page"))
    return render(
        request,
        "campaigns/public/archive_index.html",
        {"newsletter": newsletter_obj, "page": page, "words": words},
    )


@csp_replace({**MAIL_PREVIEW_POLICY, "sandbox": None, "frame-ancestors": ["'none'"]})
def archive_campaign(request: HttpRequest, newsletter: str, campaign: str) -> HttpResponse:
    """The public web version of a sent, public campaign; 404 for anything else."""
    return _archive_page(request, newsletter, campaign, language=None)


@csp_replace({**MAIL_PREVIEW_POLICY, "sandbox": None, "frame-ancestors": ["'none'"]})
def archive_edition(
    request: HttpRequest, newsletter: str, campaign: str, language: str
) -> HttpResponse:
    """One edition of a sent, public campaign (an edition that went out: marked ready)."""
    return _archive_page(request, newsletter, campaign, language=language)


def _archive_page(request: HttpRequest, newsletter: str, campaign: str, *, language):
    newsletter_obj = get_object_or_404(Newsletter, slug=newsletter)
    found = get_object_or_404(selectors.public_archive(newsletter_obj), slug=campaign)
    alternates = services.archive_alternates(campaign=found)
    edition = None
    if language is not None:
        edition = get_object_or_404(
            found.editions.filter(status=EditionStatus.READY), language=language
        )
    body = services.archive_html(campaign=found, edition=edition)
    if not body:
        raise Http404
    return render(
        request,
        "campaigns/public/archive_campaign.html",
        {
            "newsletter": newsletter_obj,
            "campaign": found,
            "body": body,
            "links": extensions.archive_links(found),
            "language": edition.language if edition else newsletter_obj.language,
            "subject": edition.subject if edition else found.subject,
            "alternates": alternates,
        },
    )


@csp_replace({**MAIL_PREVIEW_POLICY, "sandbox": None, "frame-ancestors": ["'none'"]})
def reader_web_version(
    request: HttpRequest, newsletter: str, campaign: str, token: str
) -> HttpResponse:
    """One reader's copy of a campaign, public or not, behind the signed link in their
    mail: personalised, with their own unsubscribe link, never indexed nor cached."""
    newsletter_obj = get_object_or_404(Newsletter, slug=newsletter)
    found = get_object_or_404(newsletter_obj.campaigns.select_related("newsletter"), slug=campaign)
    subscriber_id = reader_links.reader_of(found.pk, token)
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first() if subscriber_id else None
    body = services.reader_web_version(campaign=found, subscriber=subscriber) if subscriber else ""
    if not body:
        raise Http404
    response = render(
        request,
        "campaigns/public/archive_campaign.html",
        {"newsletter": newsletter_obj, "campaign": found, "body": body, "personal": True},
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


class EditionsAtomFeed(Atom1Feed):
    """Atom with an ``alternate`` link per language of an entry (RFC 4287 4.2.7.4)."""

    def add_item_elements(self, handler, item) -> None:
        super().add_item_elements(handler, item)
        for alternate in item.get("alternates", ()):
            handler.addQuickElement(
                "link",
                "",
                {
                    "rel": "alternate",
                    "href": alternate.url,
                    "hreflang": alternate.language,
                    "title": alternate.name,
                },
            )


class ArchiveFeed(Feed):
    """Atom feed of the public archive, for community websites and feed readers; a
    campaign with editions is one entry with a link to each language."""

    feed_type = EditionsAtomFeed
    limit = 50

    def get_object(self, request: HttpRequest, newsletter: str) -> Newsletter:
        return get_object_or_404(Newsletter, slug=newsletter)

    def title(self, obj: Newsletter) -> str:
        return obj.name

    def subtitle(self, obj: Newsletter) -> str:
        return obj.description

    def link(self, obj: Newsletter) -> str:
        return f"/n/{obj.slug}/"

    def author_name(self, obj: Newsletter) -> str:
        return obj.from_name

    def items(self, obj: Newsletter):
        return selectors.public_archive(obj).prefetch_related("editions")[: self.limit]

    def item_extra_kwargs(self, item) -> dict:
        return {"alternates": services.archive_alternates(campaign=item)}

    def item_title(self, item) -> str:
        return item.subject

    def item_description(self, item) -> str:
        return item.preheader or item.subject

    def item_link(self, item) -> str:
        return item.get_public_url()

    def item_pubdate(self, item):
        return item.sent_at

    def item_updateddate(self, item):
        return item.sent_at


archive_feed = ArchiveFeed()


@member_required(Role.VIEWER)
def image_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Uploaded images with the Markdown that puts each in a campaign; editors upload."""
    form = ImageForm()
    status = 200
    if request.method == "POST":
        if not Role.includes(request.role, Role.EDITOR):
            raise PermissionDenied
        form = ImageForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                image_upload(
                    newsletter=newsletter,
                    upload=form.cleaned_data["file"],
                    alt=form.cleaned_data["alt"],
                    created_by=request.user,
                )
                messages.success(request, _("Image uploaded."))
                return redirect("dashboard:image_list", slug=newsletter.slug)
            except ValidationError as error:
                form.add_error("file", error)
        status = 422
    return render(
        request,
        "campaigns/image_list.html",
        {
            "newsletter": newsletter,
            "images": newsletter.images.all(),
            "form": form,
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
        status=status,
    )
