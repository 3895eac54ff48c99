"""Dashboard pages under /dashboard/n/<slug>/feeds/: the feeds a newsletter follows.

Views parse input, call a service and render; viewers read, editors change, check
and make an issue now (``newsletter.access.member_required``).
"""

import secrets

from csp.decorators import csp_replace
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from newsletter.access import member_required
from newsletter.csp import MAIL_PREVIEW_POLICY
from newsletter.forms import add_service_errors
from newsletter.models import Newsletter, Role

from . import selectors, services
from .fetching import FeedError
from .forms import FeedForm
from .models import Feed, FeedAction

PREVIEW_SECONDS = 600


def _feed(newsletter: Newsletter, pk: int) -> Feed:
    return get_object_or_404(selectors.feeds_of(newsletter), pk=pk)


def _fields(form: FeedForm) -> dict:
    values = dict(form.cleaned_data)
    values["lists"] = list(values["lists"])
    return values


@member_required(Role.VIEWER)
def feed_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    return render(
        request,
        "feeds/dashboard/list.html",
        {
            "newsletter": newsletter,
            "feeds": selectors.feeds_of(newsletter),
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
    )


@member_required(Role.EDITOR)
def feed_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = FeedForm(request.POST or None, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            feed = services.feed_create(
                newsletter=newsletter, created_by=request.user, **_fields(form)
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Crier follows this feed now."))
            return redirect("dashboard:feed_detail", slug=newsletter.slug, pk=feed.pk)
    return _form_page(request, newsletter, form, feed=None)


@member_required(Role.EDITOR)
def feed_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    feed = _feed(newsletter, pk)
    form = FeedForm(request.POST or None, instance=feed, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            services.feed_update(feed=feed, **_fields(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Feed saved."))
            return redirect("dashboard:feed_detail", slug=newsletter.slug, pk=pk)
    return _form_page(request, newsletter, form, feed=feed)


def _form_page(request, newsletter: Newsletter, form: FeedForm, feed: Feed | None):
    return render(
        request,
        "feeds/dashboard/form.html",
        {"newsletter": newsletter, "form": form, "feed": feed},
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def feed_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    return _detail_page(request, newsletter, _feed(newsletter, pk))


def _detail_page(request, newsletter: Newsletter, feed: Feed, **extra) -> HttpResponse:
    return render(
        request,
        "feeds/dashboard/detail.html",
        {
            "newsletter": newsletter,
            "feed": feed,
            "issues": selectors.recent_issues(feed),
            "can_edit": Role.includes(request.role, Role.EDITOR),
            **extra,
        },
    )


@require_POST
@member_required(Role.EDITOR)
def feed_check(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Fetch the feed now and show what its next issue would hold; nothing is marked."""
    feed = _feed(newsletter, pk)
    try:
        check = services.feed_check(feed=feed)
    except FeedError as error:
        return _detail_page(request, newsletter, feed, check_error=str(error))
    key = ""
    if check.html:
        # The sandboxed iframe fetches it: inline srcdoc would get the dashboard's CSP.
        key = secrets.token_urlsafe(16)
        cache.set(_preview_key(newsletter, key), check.html, PREVIEW_SECONDS)
    return _detail_page(request, newsletter, feed, check=check, preview_key=key)


def _preview_key(newsletter: Newsletter, key: str) -> str:
    return f"feeds:preview:{newsletter.pk}:{key}"


@member_required(Role.EDITOR)
@xframe_options_sameorigin
@csp_replace(MAIL_PREVIEW_POLICY)
def feed_preview_html(request: HttpRequest, newsletter: Newsletter, key: str) -> HttpResponse:
    html = cache.get(_preview_key(newsletter, key))
    if html is None:
        raise Http404("This preview has expired; check the feed again.")
    return HttpResponse(html, content_type="text/html; charset=utf-8")


@require_POST
@member_required(Role.EDITOR)
def feed_run(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Make the issue now instead of waiting for the schedule. An issue that will be sent
    is confirmed first, naming where it goes, like any send from the dashboard."""
    feed = _feed(newsletter, pk)
    if feed.action == FeedAction.SEND and request.POST.get("confirm") != "yes":
        return render(
            request, "feeds/dashboard/run_confirm.html", {"newsletter": newsletter, "feed": feed}
        )
    issue = services.feed_run(feed_id=feed.pk, force=True)
    feed.refresh_from_db()
    if issue is not None:
        messages.success(request, _("Issue “%(name)s” made.") % {"name": issue.name})
        if feed.last_error:
            messages.warning(request, feed.last_error)
        return redirect(issue.get_absolute_url())
    if feed.last_error:
        messages.error(request, feed.last_error)
    else:
        messages.info(request, _("Nothing new in the feed since its last issue."))
    return redirect("dashboard:feed_detail", slug=newsletter.slug, pk=pk)


@member_required(Role.EDITOR)
def feed_delete(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A page that asks first; only the button's POST stops following (``confirm=yes``)."""
    feed = _feed(newsletter, pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        services.feed_delete(feed=feed)
        messages.success(
            request,
            _("Crier no longer follows “%(name)s”; its issues stay.") % {"name": feed.name},
        )
        return redirect("dashboard:feed_list", slug=newsletter.slug)
    return render(request, "feeds/dashboard/delete.html", {"newsletter": newsletter, "feed": feed})
