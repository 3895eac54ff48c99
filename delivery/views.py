"""The dashboard's send, schedule and live-progress pages for a campaign, and each
newsletter's sending backend."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign, Status
from newsletter.access import member_required
from newsletter.encryption import DecryptionError
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role

from . import engine, sending_backends
from .confirmation import (
    InvalidConfirmation,
    SendPlan,
    send_plan_carry_out,
    send_plan_read,
    send_plan_sign,
)
from .forms import BackendTestForm, SendForm, SendingBackendForm, stored_secret_fields
from .models import Delivery, DeliveryStatus, SendingBackend

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
    if campaign.status not in (Status.DRAFT, Status.SCHEDULED):
        return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
    if request.method == "POST" and request.POST.get("action") == "confirm":
        return _confirm(request, newsletter, campaign)
    chosen = request.GET.getlist("lists") or [
        str(pk) for pk in campaign.lists.values_list("pk", flat=True)
    ]
    form = SendForm(request.POST or None, newsletter=newsletter, initial={"lists": chosen})
    if request.method == "POST" and form.is_valid():
        plan = SendPlan(
            list_ids=tuple(lst.pk for lst in form.chosen_lists()),
            send_at=form.cleaned_data["send_at"]
            if request.POST.get("action") == "schedule"
            else None,
        )
        review = _review(request, newsletter, campaign, form, plan)
        if review is not None:
            return review
    ticked = form.data.getlist("lists") if form.is_bound else chosen
    list_ids = [int(pk) for pk in ticked if pk.isdigit()]
    return render(
        request,
        "delivery/campaign_send.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "form": form,
            "recipients": engine.audience_count(list_ids=_own_lists(newsletter, list_ids)),
        },
        status=422 if form.errors else 200,
    )


def _own_lists(newsletter: Newsletter, list_ids) -> list[int]:
    return list(newsletter.lists.filter(pk__in=list_ids).values_list("pk", flat=True))


def _review(request, newsletter, campaign, form, plan: SendPlan) -> HttpResponse | None:
    """The confirmation step, or None after adding to ``form`` why there is none."""
    recipients = engine.audience_count(list_ids=plan.list_ids)
    if plan.send_at is None and not recipients:
        form.add_error("lists", _("Nobody would receive it: these lists have no one to send to."))
        return None
    if request.POST.get("action") == "schedule":
        if plan.send_at is None:
            form.add_error("send_at", _("Choose when to send it."))
            return None
        try:
            engine.send_at_check(plan.send_at)
        except engine.CampaignStateError as error:
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
            "recipients": recipients,
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
    except engine.CampaignStateError as error:
        messages.error(request, str(error))
        return redirect("dashboard:campaign_send", slug=newsletter.slug, pk=campaign.pk)
    return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)


@member_required(Role.EDITOR)
def campaign_recipients(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """The send page's live count for the lists ticked now, with the Send now button
    (disabled when nobody would receive it)."""
    campaign = _campaign(newsletter, pk)
    list_ids = [int(pk) for pk in request.GET.getlist("lists") if pk.isdigit()]
    return render(
        request,
        "delivery/_recipients.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "recipients": engine.audience_count(list_ids=_own_lists(newsletter, list_ids)),
        },
    )


# While a campaign is in one of these, its progress page asks for news every 2 s.
LIVE_STATUSES = (Status.SCHEDULED, Status.SENDING, Status.PAUSED)


@member_required(Role.VIEWER)
def campaign_sending(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    progress = engine.progress(campaign=campaign)
    context = {
        "newsletter": newsletter,
        "campaign": campaign,
        "progress": progress,
        "live": campaign.status in LIVE_STATUSES,
        "can_act": Role.includes(request.role, Role.EDITOR),
        "failures": Delivery.objects.filter(
            campaign=campaign, status__in=(DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN)
        )
        .select_related("subscriber")
        .order_by("-id")[:FAILURES_SHOWN],
    }
    if is_htmx(request):
        return render(request, "delivery/_progress.html", context)
    return render(request, "delivery/campaign_sending.html", context)


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


@member_required(Role.OWNER)
def sending_backend(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Owners choose how this newsletter's mail leaves; secrets are never shown back."""
    backend = SendingBackend.objects.filter(newsletter=newsletter).first()
    if is_htmx(request):
        return render(request, "delivery/_backend_test.html", {"backend": backend})
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
        stored_secrets=stored_secret_fields(backend.kind, stored) if backend else set(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            sending_backends.sending_backend_save(
                newsletter=newsletter, values=form.values(), new_secrets=form.new_secrets()
            )
        except sending_backends.BackendConfigError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Sending backend saved."))
            return redirect("dashboard:sending_backend", slug=newsletter.slug)
    return render(
        request,
        "delivery/sending_backend.html",
        {
            "newsletter": newsletter,
            "backend": backend,
            "form": form,
            "test_form": BackendTestForm(),
            "unreadable": unreadable,
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
        sending_backends.test_send_request(
            backend=backend, to=form.cleaned_data["to"], requested_by=request.user.get_username()
        )
        messages.success(request, _("Test queued; its result appears below."))
    else:
        for error in form.errors["to"]:
            messages.error(request, error)
    return redirect("dashboard:sending_backend", slug=newsletter.slug)
