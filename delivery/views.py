"""The dashboard's send, schedule and live-progress pages for a campaign, and each
newsletter's sending backend."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.models import Campaign, Status
from campaigns.services import campaign_set_lists
from newsletter.access import member_required
from newsletter.encryption import DecryptionError
from newsletter.forms import add_service_errors
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role

from . import engine, sending_backends, test_mail
from .forms import BackendTestForm, SendForm, SendingBackendForm, stored_secret_fields
from .models import BackendKind, Delivery, DeliveryStatus, SendingBackend
from .sending_backends import KINDS

FAILURES_SHOWN = 50


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(newsletter.campaigns.select_related("newsletter"), pk=pk)


@member_required(Role.EDITOR)
def campaign_send(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Choose lists, see how many people that is, then send now or schedule."""
    campaign = _campaign(newsletter, pk)
    if campaign.has_started:
        return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
    form = SendForm(
        request.POST or None,
        newsletter=newsletter,
        initial={
            "lists": [str(pk) for pk in campaign.lists.values_list("pk", flat=True)],
            "send_at": campaign.send_at if campaign.status == Status.SCHEDULED else None,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            # Lists and the start or schedule together: a refusal changes nothing.
            with transaction.atomic():
                campaign_set_lists(campaign=campaign, lists=form.chosen_lists())
                if request.POST.get("action") == "schedule":
                    _schedule(campaign, form)
                else:
                    count = engine.campaign_start(campaign=campaign)
                    messages.success(request, _("Sending to %(count)s people.") % {"count": count})
            return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
        except engine.CampaignStateError as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            add_service_errors(form, error)
    return render(
        request,
        "delivery/campaign_send.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "form": form,
        },
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def campaign_recipients(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """The send page's live count for the lists ticked now (loaded after the page)."""
    campaign = _campaign(newsletter, pk)
    ticked = set(request.GET.getlist("lists"))
    list_ids = [lst.pk for lst in newsletter.lists.active() if str(lst.pk) in ticked]
    return render(
        request,
        "delivery/_recipients.html",
        {"campaign": campaign, "recipients": engine.audience_count(list_ids=list_ids)},
    )


def _schedule(campaign: Campaign, form: SendForm) -> None:
    send_at = form.cleaned_data["send_at"]
    if send_at is None:
        raise engine.CampaignStateError(_("Choose when to send it."))
    engine.campaign_schedule(campaign=campaign, send_at=send_at)


@member_required(Role.VIEWER)
def campaign_sending(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    context = {
        "newsletter": newsletter,
        "campaign": campaign,
        "progress": engine.progress(campaign=campaign),
        "can_act": Role.includes(request.role, Role.EDITOR),
        "failures": Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.FAILED)
        .select_related("subscriber")
        .order_by("-id")[:FAILURES_SHOWN],
    }
    if is_htmx(request):
        return render(request, "delivery/_progress.html", context)
    context["uncertain"] = engine.uncertain_rows(campaign)
    context["settlements"] = campaign.uncertain_settlements.all()
    return render(request, "delivery/campaign_sending.html", context)


@require_POST
@member_required(Role.EDITOR)
def campaign_uncertain(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Resend the ticked uncertain rows, or count them as sent: the choice is recorded."""
    campaign = _campaign(newsletter, pk)
    ids = [int(value) for value in request.POST.getlist("delivery") if value.isdigit()]
    choice = request.POST.get("choice", "")
    if not ids:
        messages.error(request, _("Tick at least one person."))
    else:
        try:
            settlement = engine.campaign_settle_uncertain(
                campaign=campaign,
                choice=choice,
                actor=request.user.get_username(),
                user=request.user,
                delivery_ids=ids,
            )
        except engine.CampaignStateError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                _("%(choice)s: %(count)s people. Your choice is recorded below.")
                % {
                    "choice": settlement.get_choice_display(),
                    "count": len(settlement.delivery_ids),
                },
            )
    return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)


ACTIONS = {
    "pause": engine.campaign_pause,
    "resume": engine.campaign_resume,
    "cancel": engine.campaign_cancel,
    "retry_failed": engine.campaign_retry_failed,
}


@require_POST
@member_required(Role.EDITOR)
def campaign_action(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    action = ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, _("Unknown action."))
    else:
        try:
            action(campaign=campaign)
        except engine.CampaignStateError as error:
            messages.error(request, str(error))
    return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)


def _test_result(request: HttpRequest, backend: SendingBackend | None) -> dict:
    return {
        "backend": backend,
        "outbox_link": backend is not None
        and backend.kind == BackendKind.OUTBOX
        and request.user.is_staff,
    }


@member_required(Role.OWNER)
def sending_backend(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Owners choose how this newsletter's mail leaves; secrets are never shown back.

    Only the chosen service's fields are on the form; choosing another service
    fetches its fields (``?kind=``, htmx). ``?part=test`` is the test result alone,
    polled while a worker runs the test.
    """
    backend = SendingBackend.objects.filter(newsletter=newsletter).first()
    if request.GET.get("part") == "test":
        return render(request, "delivery/_backend_test.html", _test_result(request, backend))
    unreadable = False
    stored: set[str] = set()
    if backend is not None:
        try:
            stored = set(sending_backends.read_secrets(backend))
        except DecryptionError:
            unreadable = True
    form = SendingBackendForm(
        request.POST or None,
        instance=backend,
        kind=request.GET.get("kind"),
        stored_secrets=stored_secret_fields(backend.kind, stored) if backend else set(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            sending_backends.sending_backend_save(
                newsletter=newsletter, values=form.values(), new_secrets=form.new_secrets()
            )
        except sending_backends.BackendConfigError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            messages.success(request, _("Sending backend saved."))
            return redirect("dashboard:sending_backend", slug=newsletter.slug)
    webhook = sending_backends.webhook_of(backend) if backend and not unreadable else None
    return render(
        request,
        "delivery/sending_backend.html",
        {
            "newsletter": newsletter,
            "backend": backend,
            "route": sending_backends.route_of(newsletter.pk),
            "default_route": sending_backends.default_route(),
            "form": form,
            "test_form": BackendTestForm(initial={"to": request.user.email}),
            "checkable": backend is not None and backend.kind == BackendKind.SMTP,
            "webhook": webhook,
            "webhook_needs_key": webhook is not None
            and bool(KINDS[backend.kind].webhook_key)
            and KINDS[backend.kind].webhook_key not in stored,
            "unreadable": unreadable,
            **_test_result(request, backend),
        },
        status=422 if form.errors else 200,
    )


@require_POST
@member_required(Role.OWNER)
def sending_backend_test(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    backend = SendingBackend.objects.filter(newsletter=newsletter).first()
    form = BackendTestForm(request.POST)
    if backend is None:
        messages.error(request, _("Save a sending backend before testing it."))
    elif form.is_valid():
        try:
            sending_backends.test_send_request(
                backend=backend,
                to=form.cleaned_data["to"],
                user=request.user,
                requested_by=request.user.get_username(),
            )
        except test_mail.TestMailRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Test queued; its result appears below."))
    else:
        for error in form.errors["to"]:
            messages.error(request, error)
    return redirect(reverse("dashboard:sending_backend", args=[newsletter.slug]) + "#test")


@require_POST
@member_required(Role.OWNER)
def sending_backend_check(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Check the saved SMTP settings without sending a message."""
    backend = SendingBackend.objects.filter(newsletter=newsletter).first()
    if backend is None:
        messages.error(request, _("Save a sending backend before testing it."))
    else:
        try:
            sending_backends.connection_check_request(backend=backend)
        except sending_backends.BackendConfigError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Connection test queued; its result appears below."))
    return redirect(reverse("dashboard:sending_backend", args=[newsletter.slug]) + "#test")


@require_POST
@member_required(Role.OWNER)
def sending_backend_webhook_renew(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    backend = SendingBackend.objects.filter(newsletter=newsletter).first()
    if backend is None:
        messages.error(request, _("Save a sending backend first."))
    else:
        sending_backends.webhook_secret_renew(backend=backend)
        messages.success(
            request,
            _("New webhook secret: paste the new URL at your service; the old one is void."),
        )
    return redirect(reverse("dashboard:sending_backend", args=[newsletter.slug]) + "#webhook")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def test_mail_stop(request: HttpRequest, token: str) -> HttpResponse:
    """The List-Unsubscribe of a test message. GET: one button (link scanners follow
    links); POST, or RFC 8058's ``List-Unsubscribe=One-Click``: no more test mail from
    this newsletter to this address."""
    stop = test_mail.read_stop_token(token)
    if stop is None:
        return render(request, "delivery/test_mail_stop.html", {"invalid": True}, status=400)
    context = {"newsletter": stop.newsletter}
    if request.method == "GET":
        return render(request, "delivery/test_mail_stop.html", context)
    test_mail.refusal_record(stop=stop)
    if request.POST.get("List-Unsubscribe") == "One-Click":
        return HttpResponse("Stopped.\n", content_type="text/plain; charset=utf-8")
    return render(request, "delivery/test_mail_stop.html", {**context, "done": True})
