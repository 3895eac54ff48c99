"""The dashboard's send, schedule and live-progress pages for a campaign, and each
newsletter's sending backend."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from audiences.services import segment_compile
from campaigns.editions import language_name
from campaigns.models import Campaign, Kind, Status
from campaigns.services import campaign_editions
from newsletter.access import member_required
from newsletter.encryption import DecryptionError
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role

from . import audience, lifecycle, sending_backends, test_mail, transports
from .confirmation import (
    InvalidConfirmation,
    SendPlan,
    send_plan_carry_out,
    send_plan_read,
    send_plan_sign,
)
from .forms import BackendTestForm, SendForm, SendingBackendForm, stored_secret_fields
from .models import BackendKind, Delivery, DeliveryStatus, SendingBackend
from .progress import campaign_progress, uncertain_rows
from .transports import KINDS

FAILURES_SHOWN = 50


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(newsletter.campaigns.select_related("newsletter"), pk=pk)


@member_required(Role.EDITOR)
def campaign_send(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Choose lists and when, review what will happen, then confirm (``confirmation``).

    Any POST without a valid signed confirmation only shows the review: nothing is
    sent or scheduled until the editor confirms what they saw.
    """
    campaign = _campaign(newsletter, pk)
    if campaign.has_started:
        return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
    if request.method == "POST" and request.POST.get("action") == "confirm":
        return _confirm(request, newsletter, campaign)
    chosen = request.GET.getlist("lists") or [
        str(pk) for pk in campaign.lists.values_list("pk", flat=True)
    ]
    form = SendForm(
        request.POST or None,
        newsletter=newsletter,
        initial={
            "lists": chosen,
            "segment": request.GET.get("segment", campaign.segment_id or ""),
            "send_at": campaign.send_at if campaign.status == Status.SCHEDULED else None,
            "local_hour": campaign.local_hour,
        },
    )
    if request.method == "POST" and form.is_valid():
        segment = form.chosen_segment()
        plan = SendPlan(
            list_ids=tuple(lst.pk for lst in form.chosen_lists()),
            send_at=form.cleaned_data["send_at"]
            if request.POST.get("action") == "schedule"
            else None,
            segment_id=segment.pk if segment else None,
            local_hour=form.cleaned_data["local_hour"],
        )
        review = _review(request, newsletter, campaign, form, plan)
        if review is not None:
            return review
    data = form.data if form.is_bound else None
    ticked = data.getlist("lists") if data else chosen
    segment_id = data.get("segment") if data else form.initial["segment"]
    return render(
        request,
        "delivery/campaign_send.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "form": form,
            **_recipients(newsletter, ticked, segment_id),
        },
        status=422 if form.errors else 200,
    )


def _recipients(newsletter: Newsletter, list_ids, segment_id) -> dict:
    """The send page's count for these lists and segment (ids as the form sends them),
    the same query the send runs; a segment that no longer compiles says why."""
    segment = (
        newsletter.segments.filter(pk=int(segment_id)).first()
        if str(segment_id or "").isdigit()
        else None
    )
    chosen = [int(pk) for pk in list_ids if str(pk).isdigit()]
    lists = audience.audience_lists(
        newsletter_id=newsletter.pk, chosen=chosen, segment=segment is not None
    )
    compiled = None
    if segment is not None:
        try:
            compiled = segment_compile(segment=segment)
        except ValidationError as error:
            return {"recipients": 0, "segment": segment, "segment_problem": error.messages}
    return {
        "recipients": audience.audience_count(list_ids=lists, segment=compiled),
        "segment": segment,
    }


def _review(request, newsletter, campaign, form, plan: SendPlan) -> HttpResponse | None:
    """The confirmation step, or None after adding to ``form`` why there is none."""
    counted = _recipients(newsletter, plan.list_ids, plan.segment_id)
    if counted.get("segment_problem"):
        form.add_error("segment", counted["segment_problem"])
        return None
    recipients = counted["recipients"]
    if plan.send_at is None and not recipients:
        form.add_error("lists", _("Nobody would receive it: these lists have no one to send to."))
        return None
    verdict = lifecycle.campaign_sendability(
        campaign=campaign, list_ids=plan.list_ids, segment=plan.segment_id is not None
    )
    if not verdict.ok:
        form.add_error(None, " ".join(verdict.reasons))
        return None
    if request.POST.get("action") == "schedule":
        if plan.send_at is None:
            form.add_error("send_at", _("Choose when to send it."))
            return None
        try:
            lifecycle.send_at_check(plan.send_at)
        except lifecycle.CampaignStateError as error:
            form.add_error("send_at", str(error))
            return None
    return render(
        request,
        "delivery/campaign_send_confirm.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "plan": plan,
            "lists": form.chosen_lists(),
            "segment": counted["segment"],
            "recipients": recipients,
            "editions": campaign_editions(campaign=campaign, list_ids=plan.list_ids),
            "default_language": language_name(newsletter.language),
            "confirmation": send_plan_sign(campaign=campaign, plan=plan, user=request.user),
        },
    )


def _confirm(request: HttpRequest, newsletter: Newsletter, campaign: Campaign) -> HttpResponse:
    try:
        plan = send_plan_read(
            request.POST.get("confirmation", ""), campaign=campaign, user=request.user
        )
        send_plan_carry_out(campaign=campaign, plan=plan)
    except InvalidConfirmation:
        messages.error(request, _("This confirmation is too old or not valid: review it again."))
        return redirect("dashboard:campaign_send", slug=newsletter.slug, pk=campaign.pk)
    except lifecycle.CampaignStateError as error:
        messages.error(request, str(error))
        return redirect("dashboard:campaign_send", slug=newsletter.slug, pk=campaign.pk)
    return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)


@member_required(Role.EDITOR)
def campaign_recipients(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """The send page's live count for the lists ticked and the segment chosen now, with
    the Send now button (disabled when nobody would receive it)."""
    campaign = _campaign(newsletter, pk)
    return render(
        request,
        "delivery/_recipients.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            **_recipients(newsletter, request.GET.getlist("lists"), request.GET.get("segment")),
        },
    )


# While a campaign is in one of these, its progress page asks for news every 2 s.
LIVE_STATUSES = (Status.SCHEDULED, Status.SENDING, Status.PAUSED)


@member_required(Role.VIEWER)
def campaign_sending(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    progress = campaign_progress(campaign=campaign)
    context = {
        "newsletter": newsletter,
        "campaign": campaign,
        "progress": progress,
        "live": campaign.status in LIVE_STATUSES,
        "can_act": Role.includes(request.role, Role.EDITOR),
        "failures": Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.FAILED)
        .select_related("subscriber")
        .order_by("-id")[:FAILURES_SHOWN],
    }
    if is_htmx(request):
        return render(request, "delivery/_progress.html", context)
    context["uncertain"] = uncertain_rows(campaign)
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
            settlement = lifecycle.campaign_settle_uncertain(
                campaign=campaign,
                choice=choice,
                actor=request.user.get_username(),
                user=request.user,
                delivery_ids=ids,
            )
        except lifecycle.CampaignStateError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                ngettext(
                    "%(choice)s: %(count)s person. Your choice is recorded below.",
                    "%(choice)s: %(count)s people. Your choice is recorded below.",
                    len(settlement.delivery_ids),
                )
                % {
                    "choice": settlement.get_choice_display(),
                    "count": len(settlement.delivery_ids),
                },
            )
    return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)


ACTIONS = {
    "pause": lifecycle.campaign_pause,
    "resume": lifecycle.campaign_resume,
    "cancel": lifecycle.campaign_cancel,
    "retry_failed": lifecycle.campaign_retry_failed,
}


@require_POST
@member_required(Role.EDITOR)
def campaign_action(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    action = ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, _("Unknown action."))
    elif campaign.kind == Kind.AUTOMATION and action != lifecycle.campaign_retry_failed:
        messages.error(request, _("This email pauses and resumes with its automation."))
    else:
        try:
            action(campaign=campaign)
        except lifecycle.CampaignStateError as error:
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
            stored = set(transports.read_secrets(backend))
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
