"""Public pages: the newsletter page and the signed links from emails.

Signed-link views are exempt from CSRF on purpose: they use no session or cookie,
and the token in the URL is the only authority. RFC 8058 one-click unsubscribe
must work from a mail provider's server, which has neither.
"""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.selectors import public_archive
from newsletter import ratelimit
from newsletter.http import client_ip
from newsletter.links import absolute_url
from newsletter.models import Newsletter

from . import extensions, proof_of_work, services, tokens
from .forms import PreferencesForm, SubscribeForm
from .ledger import Evidence
from .models import ConsentSource, Subscriber, SubscriberStatus, SubscriptionStatus

ONE_CLICK_BODY = "One-Click"
ARCHIVE_ON_PAGE = 20


def _evidence(request: HttpRequest) -> Evidence:
    return Evidence(
        ip_address=client_ip(request) or None,
        user_agent=request.headers.get("User-Agent", ""),
    )


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/invalid_link.html", status=400)


def newsletter_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The public page; ``?ref=CODE`` (a reader's referral link) is carried by its form."""
    newsletter = get_object_or_404(Newsletter, slug=slug)
    form = SubscribeForm(newsletter=newsletter)
    code = request.GET.get("ref", "").strip()
    if code:
        form.referrer = services.referrer_for(newsletter=newsletter, code=code)
        if form.referrer is None:
            return render(
                request, "subscribers/invalid_referral.html", {"newsletter": newsletter}, status=404
            )
        form.initial["ref"] = code
    return _render_newsletter(request, newsletter, form)


def _render_newsletter(request, newsletter, form, status=200) -> HttpResponse:
    subscribe_url = absolute_url("subscribers:subscribe", slug=newsletter.slug)
    challenge = proof_of_work.new_challenge() if newsletter.require_proof_of_work else None
    return render(
        request,
        "subscribers/newsletter.html",
        {
            "newsletter": newsletter,
            "form": form,
            "subscribe_url": subscribe_url,
            "challenge": challenge,
            "archive": public_archive(newsletter)[:ARCHIVE_ON_PAGE],
        },
        status=status,
    )


@csrf_exempt
@require_POST
def subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """Start double opt-in. Cross-site posts are welcome (the embeddable form)."""
    newsletter = get_object_or_404(Newsletter, slug=slug)
    if not ratelimit.hit(
        "subscribe-ip",
        client_ip(request),
        limit=settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR,
        window_seconds=3600,
    ):
        return render(
            request, "subscribers/rate_limited.html", {"newsletter": newsletter}, status=429
        )
    form = SubscribeForm(request.POST, newsletter=newsletter)
    if form.is_bot:
        return render(request, "subscribers/check_inbox.html", {"newsletter": newsletter})
    if not form.is_valid():
        return _render_newsletter(request, newsletter, form, status=422)
    services.subscribe(
        newsletter=newsletter,
        email=form.cleaned_data["email"],
        name=form.cleaned_data["name"],
        lists=form.chosen_lists(),
        source=ConsentSource.FORM,
        wording=newsletter.consent_text,
        language=translation.get_language() or newsletter.language,
        evidence=_evidence(request),
        referrer=form.referrer,
    )
    # The same answer whatever happened, so the form reveals no one's subscriptions.
    return render(request, "subscribers/check_inbox.html", {"newsletter": newsletter})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; only the POST confirms, so link scanners cannot."""
    try:
        claim = tokens.read_confirm_token(token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    except tokens.ExpiredToken as expired:
        return _expired(request, expired.claim)
    newsletter = get_object_or_404(Newsletter, pk=claim.newsletter_id)
    if request.method == "GET":
        return render(request, "subscribers/confirm.html", {"newsletter": newsletter})
    outcome = services.confirm(claim=claim, evidence=_evidence(request))
    confirmed_lists = outcome.subscriber.subscriptions.filter(
        mailing_list__newsletter=newsletter, status=SubscriptionStatus.CONFIRMED
    ).select_related("mailing_list")
    return render(
        request,
        "subscribers/confirmed.html",
        {
            "newsletter": newsletter,
            "lists": [subscription.mailing_list for subscription in confirmed_lists],
            "preferences_url": _preferences_path(claim),
        },
    )


def _expired(request: HttpRequest, claim: tokens.Claim) -> HttpResponse:
    newsletter = get_object_or_404(Newsletter, pk=claim.newsletter_id)
    resent = request.method == "POST" and services.resend_confirmation(claim=claim)
    return render(
        request,
        "subscribers/expired.html",
        {"newsletter": newsletter, "resent": resent, "asked": request.method == "POST"},
        status=410 if request.method == "GET" else 200,
    )


def _preferences_path(claim: tokens.Claim) -> str:
    return reverse("subscribers:preferences", kwargs={"token": tokens.preferences_token(claim)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = tokens.read_preferences_token(token)
    except (tokens.InvalidToken, tokens.ExpiredToken):
        return _invalid_link(request)
    newsletter = get_object_or_404(Newsletter, pk=claim.newsletter_id)
    subscriber = get_object_or_404(Subscriber, pk=claim.subscriber_id)
    if subscriber.status == SubscriberStatus.ERASED:
        return render(request, "subscribers/erased.html", {"newsletter": newsletter})
    if subscriber.language:
        translation.activate(subscriber.language)
    action = request.POST.get("action", "save")
    if request.method == "POST" and action in PREFERENCE_ACTIONS:
        return PREFERENCE_ACTIONS[action](request, claim, newsletter, subscriber)

    offered = list(services.lists_for_preferences(subscriber, newsletter))
    form = _preferences_form(subscriber, newsletter, offered)
    saved = False
    if request.method == "POST":
        form = PreferencesForm(request.POST, offered_lists=offered, timezone=newsletter.timezone)
        if form.is_valid():
            services.update_preferences(
                claim=claim,
                preferences=services.Preferences(
                    lists=frozenset(int(pk) for pk in form.cleaned_data["lists"]),
                    name=form.cleaned_data["name"],
                    language=form.cleaned_data["language"],
                    tracking_opt_out=form.cleaned_data["tracking_opt_out"],
                    paused_until=form.cleaned_data["paused_until"],
                ),
                evidence=_evidence(request),
            )
            subscriber.refresh_from_db()
            translation.activate(subscriber.language)
            form = _preferences_form(subscriber, newsletter, offered)
            saved = True
    return render(
        request,
        "subscribers/preferences.html",
        {
            "newsletter": newsletter,
            "subscriber": subscriber,
            "form": form,
            "saved": saved,
            # What other apps show the person here (their referral link…).
            "sections": extensions.preference_sections(subscriber, newsletter, token),
        },
        status=422 if form.errors else 200,
    )


def _preferences_form(subscriber: Subscriber, newsletter: Newsletter, offered) -> PreferencesForm:
    live = subscriber.subscriptions.filter(
        mailing_list__newsletter=newsletter, status__in=services.LIVE
    ).values_list("mailing_list_id", flat=True)
    return PreferencesForm(
        offered_lists=offered,
        timezone=newsletter.timezone,
        initial={
            "lists": [str(pk) for pk in live],
            "name": subscriber.name,
            "language": subscriber.language or newsletter.language,
            "tracking_opt_out": subscriber.tracking_opt_out,
            "paused_until": subscriber.paused_until.date() if subscriber.paused_until else None,
        },
    )


def _unsubscribe_everywhere(request, claim, newsletter, subscriber) -> HttpResponse:
    services.unsubscribe_everywhere(
        claim=claim, source=ConsentSource.PREFERENCE_CENTER, evidence=_evidence(request)
    )
    return render(
        request, "subscribers/unsubscribed.html", {"newsletter": newsletter, "everywhere": True}
    )


def _export(request, claim, newsletter, subscriber: Subscriber) -> HttpResponse:
    response = HttpResponse(
        json.dumps(services.export_data(subscriber), indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


def _erase(request, claim: tokens.Claim, newsletter: Newsletter, subscriber) -> HttpResponse:
    if request.POST.get("confirm_erase") != "yes":
        return render(
            request,
            "subscribers/confirm_erase.html",
            {"newsletter": newsletter},
        )
    services.erase(claim=claim, source=ConsentSource.PREFERENCE_CENTER)
    return render(request, "subscribers/erased.html", {"newsletter": newsletter})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: one button. POST ``List-Unsubscribe=One-Click``: RFC 8058, at once, idempotent."""
    try:
        claim = tokens.read_unsubscribe_token(token)
    except (tokens.InvalidToken, tokens.ExpiredToken):
        return _invalid_link(request)
    newsletter = get_object_or_404(Newsletter, pk=claim.newsletter_id)
    get_object_or_404(Subscriber, pk=claim.subscriber_id)
    if request.method == "GET":
        return render(request, "subscribers/unsubscribe.html", {"newsletter": newsletter})
    one_click = request.POST.get("List-Unsubscribe") == ONE_CLICK_BODY
    services.unsubscribe(
        claim=claim,
        source=ConsentSource.ONE_CLICK if one_click else ConsentSource.UNSUBSCRIBE_PAGE,
        evidence=_evidence(request),
    )
    if one_click:
        return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
    return render(
        request,
        "subscribers/unsubscribed.html",
        {"newsletter": newsletter, "preferences_url": _preferences_path(claim)},
    )


PREFERENCE_ACTIONS = {
    "export": _export,
    "erase": _erase,
    "unsubscribe_all": _unsubscribe_everywhere,
}
