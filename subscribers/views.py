"""Public pages: the newsletter page and the signed links from emails.

Signed-link views are exempt from CSRF on purpose: they use no session or cookie,
and the token in the URL is the only authority. RFC 8058 one-click unsubscribe
must work from a mail provider's server, which has neither.
"""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from newsletter import ratelimit
from newsletter.access import role_of
from newsletter.http import client_ip
from newsletter.links import absolute_url
from newsletter.models import Newsletter

from . import (
    extensions,
    held,
    personal_data,
    preference_center,
    proof_of_work,
    services,
    tokens,
)
from .forms import FieldValuesForm, NewsletterChoicesForm, ProfileForm, SubscribeForm
from .ledger import Evidence
from .models import ConsentSource, Subscriber, SubscriberStatus, SubscriptionStatus

ONE_CLICK_BODY = "One-Click"


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
            # What other apps show below the form (campaigns: the archive).
            "sections": extensions.page_sections(newsletter),
            # The embeddable form and the way to the dashboard are for its members only.
            "is_member": request.user.is_authenticated
            and role_of(request.user, newsletter) is not None,
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
        tracking=form.cleaned_data["tracking"],
        attributes=form.field_values,
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
    contact = services.contact_for_claim(claim)
    if contact is None:
        return _invalid_link(request)
    newsletter = contact.newsletter
    if request.method == "GET":
        return render(request, "subscribers/confirm.html", {"newsletter": newsletter})
    outcome = services.confirm(claim=claim, evidence=_evidence(request))
    confirmed_lists = outcome.subscriber.subscriptions.filter(
        status=SubscriptionStatus.CONFIRMED
    ).select_related("mailing_list")
    return render(
        request,
        "subscribers/confirmed.html",
        {
            "newsletter": newsletter,
            "lists": [subscription.mailing_list for subscription in confirmed_lists],
            "preferences_url": _preferences_path(contact),
        },
    )


def _expired(request: HttpRequest, claim: tokens.Claim) -> HttpResponse:
    contact = services.contact_for_claim(claim)
    if contact is None:
        return _invalid_link(request)
    resent = request.method == "POST" and services.resend_confirmation(claim=claim)
    return render(
        request,
        "subscribers/expired.html",
        {"newsletter": contact.newsletter, "resent": resent, "asked": request.method == "POST"},
        status=410 if request.method == "GET" else 200,
    )


def _preferences_path(contact: Subscriber) -> str:
    token = tokens.preferences_token(tokens.Claim(contact.pk, contact.newsletter_id))
    return reverse("subscribers:preferences", kwargs={"token": token})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The person's preference center: every newsletter of this instance they get, each
    with its lists, frequencies and pause; their name, language, tracking choice and
    format for all; leaving one newsletter, or all of them in one click. The link never
    expires, so export and erasure are one mailed link away (``data``)."""
    try:
        claim = tokens.read_preferences_token(token)
    except (tokens.InvalidToken, tokens.ExpiredToken):
        return _invalid_link(request)
    subscriber = services.contact_for_claim(claim)
    if subscriber is None:
        raise Http404
    if subscriber.status == SubscriberStatus.ERASED:
        return render(request, "subscribers/erased.html", {"newsletter": subscriber.newsletter})
    if subscriber.language:
        translation.activate(subscriber.language)
    if request.method == "GET":
        return _render_preferences(request, claim, subscriber)
    action = request.POST.get("action", "")
    if action in PREFERENCE_ACTIONS:
        return PREFERENCE_ACTIONS[action](request, claim, subscriber)
    # A form this page no longer has (an old tab): change nothing.
    return _render_preferences(request, claim, subscriber, status=400)


def _render_preferences(
    request, claim, subscriber, *, status: int = 200, bound=None, profile=None, **flags
) -> HttpResponse:
    """The page; ``bound`` is a newsletter's form (choices or fields) with the errors to
    show in place of its own, ``profile`` the person's form with errors."""
    sections = []
    for contact in preference_center.person_contacts(subscriber):
        newsletter = contact.newsletter
        offered = list(services.lists_for_preferences(contact, newsletter))
        form = (
            bound
            if bound is not None and bound.prefix == f"n{newsletter.pk}"
            else NewsletterChoicesForm.of(contact, offered)
        )
        shown = preference_center.reader_fields(contact)
        fields_form = (
            bound
            if bound is not None and bound.prefix == f"f{newsletter.pk}"
            else _reader_fields_form(contact, shown)
        )
        sections.append(
            {
                "newsletter": newsletter,
                "contact": contact,
                "form": form,
                "fields_form": fields_form,
                "read_only": [
                    (field, _shown_value(contact.attributes.get(field.key)))
                    for field in shown
                    if not field.editable_by_reader
                ],
                "status": contact.status,
                # What other apps show the person here (their referral link…).
                "extras": extensions.preference_sections(
                    contact,
                    newsletter,
                    tokens.preferences_token(tokens.Claim(contact.pk, newsletter.pk)),
                ),
            }
        )
    invalid = (bound is not None and bound.errors) or (profile is not None and profile.errors)
    return render(
        request,
        "subscribers/preferences.html",
        {
            "newsletter": subscriber.newsletter,
            "subscriber": subscriber,
            "sections": sections,
            "profile": profile or ProfileForm.of(subscriber),
            "policies": sorted({section["newsletter"].tracking_policy for section in sections}),
            **flags,
        },
        status=422 if invalid else status,
    )


def _chosen_contact(request, claim) -> Subscriber | None:
    wanted = request.POST.get("newsletter", "")
    return preference_center.contact_in(claim, int(wanted)) if wanted.isdigit() else None


def _save_newsletter(request, claim, subscriber) -> HttpResponse:
    contact = _chosen_contact(request, claim)
    if contact is None:
        return _render_preferences(request, claim, subscriber, status=400)
    newsletter = contact.newsletter
    form = NewsletterChoicesForm.of(
        contact, list(services.lists_for_preferences(contact, newsletter)), data=request.POST
    )
    if not form.is_valid():
        return _render_preferences(request, claim, subscriber, bound=form)
    preference_center.newsletter_choices_save(
        claim=claim,
        newsletter_id=newsletter.pk,
        preferences=form.preferences(),
        evidence=_evidence(request),
    )
    return _render_preferences(request, claim, subscriber, saved=newsletter)


def _reader_fields_form(contact, shown, data=None) -> FieldValuesForm:
    """The fields the newsletter lets the person edit, prefilled with their values."""
    editable = [field for field in shown if field.editable_by_reader]
    return FieldValuesForm(
        data,
        definitions=editable,
        prefix=f"f{contact.newsletter_id}",
        initial=FieldValuesForm.initial_from(editable, contact.attributes),
    )


def _shown_value(value) -> str:
    """A stored value in words (yes/no in the page's language); empty for none."""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    return "" if value is None else str(value)


def _save_fields(request, claim, subscriber) -> HttpResponse:
    contact = _chosen_contact(request, claim)
    if contact is None:
        return _render_preferences(request, claim, subscriber, status=400)
    form = _reader_fields_form(contact, preference_center.reader_fields(contact), data=request.POST)
    if not form.is_valid():
        return _render_preferences(request, claim, subscriber, bound=form)
    try:
        preference_center.reader_fields_save(
            claim=claim,
            newsletter_id=contact.newsletter_id,
            values=form.values(),
            evidence=_evidence(request),
        )
    except ValidationError as error:
        if not form.add_value_errors(error):
            form.add_error(None, error)
        return _render_preferences(request, claim, subscriber, bound=form)
    subscriber.refresh_from_db()  # the page's first section shows the link's own contact
    return _render_preferences(request, claim, subscriber, fields_saved=contact.newsletter)


def _save_profile(request, claim, subscriber) -> HttpResponse:
    form = ProfileForm.of(subscriber, data=request.POST)
    if not form.is_valid():
        return _render_preferences(request, claim, subscriber, profile=form)
    preference_center.profile_save(claim=claim, changes=form.changes(), evidence=_evidence(request))
    subscriber.refresh_from_db()
    translation.activate(subscriber.language or subscriber.newsletter.language)
    return _render_preferences(request, claim, subscriber, profile_saved=True)


def _leave_newsletter(request, claim, subscriber) -> HttpResponse:
    """Leave one newsletter of the page (an old tab's form names none: the link's own)."""
    contact = subscriber if "newsletter" not in request.POST else _chosen_contact(request, claim)
    if contact is None:
        return _render_preferences(request, claim, subscriber, status=400)
    services.leave_newsletter(
        claim=tokens.Claim(contact.pk, contact.newsletter_id),
        source=ConsentSource.PREFERENCE_CENTER,
        evidence=_evidence(request),
    )
    return render(
        request,
        "subscribers/unsubscribed.html",
        {"newsletter": contact.newsletter, "preferences_url": _preferences_path(subscriber)},
    )


def _stop_everything(request, claim, subscriber) -> HttpResponse:
    newsletters = [each.newsletter for each in preference_center.person_contacts(subscriber)]
    preference_center.stop_everything(claim=claim, evidence=_evidence(request))
    return render(
        request,
        "subscribers/unsubscribed.html",
        {
            "newsletter": subscriber.newsletter,
            "newsletters": newsletters,
            "preferences_url": _preferences_path(subscriber),
        },
    )


def _request_data_link(request, claim, subscriber) -> HttpResponse:
    """Mail the short-lived data link to the address; the page says the same either way."""
    personal_data.request_data_link(claim=claim)
    return _render_preferences(request, claim, subscriber, data_link_sent=True)


PREFERENCE_ACTIONS = {
    "save_newsletter": _save_newsletter,
    "save_profile": _save_profile,
    "save_fields": _save_fields,
    "leave": _leave_newsletter,
    "unsubscribe_all": _leave_newsletter,
    "stop_everything": _stop_everything,
    "request_data": _request_data_link,
}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def data(request: HttpRequest, token: str) -> HttpResponse:
    """The person's own data across this instance, from a link mailed to them an hour ago
    at most: everything kept about them in plain words (what the download holds), and
    the buttons to download it, stop all mail, or erase it. Nothing happens on GET
    (link scanners fetch it)."""
    try:
        claim = tokens.read_data_token(token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    except tokens.ExpiredToken:
        return render(request, "subscribers/data_expired.html", status=410)
    subscriber = services.contact_for_claim(claim)
    if subscriber is None:
        return _invalid_link(request)
    newsletter = subscriber.newsletter
    if subscriber.status == SubscriberStatus.ERASED:
        return render(request, "subscribers/erased.html", {"newsletter": newsletter})
    if subscriber.language:
        translation.activate(subscriber.language)
    action = request.POST.get("action", "")
    if request.method == "POST" and action in DATA_ACTIONS:
        return DATA_ACTIONS[action](request, claim, newsletter, subscriber)
    return render(
        request,
        "subscribers/data.html",
        {"newsletter": newsletter, "subscriber": subscriber, "held": held.held_about(subscriber)},
    )


def _export(request, claim, newsletter, subscriber: Subscriber) -> HttpResponse:
    response = HttpResponse(
        json.dumps(personal_data.export_person(subscriber), indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


def _unsubscribe_everywhere(request, claim, newsletter, subscriber) -> HttpResponse:
    personal_data.unsubscribe_everywhere(
        claim=claim, source=ConsentSource.SELF_SERVICE, evidence=_evidence(request)
    )
    return render(
        request, "subscribers/unsubscribed.html", {"newsletter": newsletter, "everywhere": True}
    )


def _erase(request, claim: tokens.Claim, newsletter: Newsletter, subscriber) -> HttpResponse:
    if request.POST.get("confirm_erase") != "yes":
        return render(request, "subscribers/confirm_erase.html", {"newsletter": newsletter})
    personal_data.erase_everywhere(claim=claim, source=ConsentSource.SELF_SERVICE)
    return render(request, "subscribers/erased.html", {"newsletter": newsletter})


DATA_ACTIONS = {
    "export": _export,
    "unsubscribe_all": _unsubscribe_everywhere,
    "erase": _erase,
}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the choice. POST ``List-Unsubscribe=One-Click``: RFC 8058, at once, idempotent.

    A mail sent through one list links here with ``?list=<id>``: the page offers to
    leave only that list or the whole newsletter. The token alone already allows
    leaving the whole newsletter, so the unsigned list id can only narrow it.
    One-click unsubscribes (mail providers' buttons) leave the whole newsletter.
    ``?c=<id>`` names the campaign whose mail the link was in, for its report.
    """
    try:
        claim = tokens.read_unsubscribe_token(token)
    except (tokens.InvalidToken, tokens.ExpiredToken):
        return _invalid_link(request)
    subscriber = services.contact_for_claim(claim)
    if subscriber is None:
        raise Http404
    newsletter = subscriber.newsletter
    one_click = request.POST.get("List-Unsubscribe") == ONE_CLICK_BODY
    mailing_list = None if one_click else _list_to_leave(request, subscriber, newsletter)
    if request.method == "GET":
        return render(
            request,
            "subscribers/unsubscribe.html",
            {"newsletter": newsletter, "mailing_list": mailing_list},
        )
    if request.POST.get("scope") != "list":
        mailing_list = None
    campaign = request.GET.get("c", "")
    services.unsubscribe(
        claim=claim,
        source=ConsentSource.ONE_CLICK if one_click else ConsentSource.UNSUBSCRIBE_PAGE,
        mailing_list=mailing_list,
        evidence=_evidence(request),
        campaign_id=int(campaign) if campaign.isdigit() and len(campaign) < 19 else None,
    )
    if one_click:
        return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
    return render(
        request,
        "subscribers/unsubscribed.html",
        {
            "newsletter": newsletter,
            "mailing_list": mailing_list,
            "preferences_url": _preferences_path(subscriber),
        },
    )


def _list_to_leave(request: HttpRequest, subscriber: Subscriber, newsletter: Newsletter):
    """The list named by ``?list=`` if the subscriber is on it and on another list of the
    newsletter too (with one list, leaving it is leaving the newsletter)."""
    wanted = request.GET.get("list", "")
    if not wanted.isdigit():
        return None
    live = {
        subscription.mailing_list_id: subscription.mailing_list
        for subscription in subscriber.subscriptions.filter(
            mailing_list__newsletter=newsletter, status__in=services.LIVE
        ).select_related("mailing_list")
    }
    return live.get(int(wanted)) if len(live) > 1 else None
