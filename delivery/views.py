"""The dashboard's send, schedule and live-progress pages for a campaign."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign, Status
from newsletter.access import member_required
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role

from . import engine
from .forms import SendForm
from .models import Delivery, DeliveryStatus

FAILURES_SHOWN = 50


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(newsletter.campaigns.select_related("newsletter"), pk=pk)


@member_required(Role.EDITOR)
def campaign_send(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Choose lists, see how many people that is, then send now or schedule."""
    campaign = _campaign(newsletter, pk)
    if campaign.status not in (Status.DRAFT, Status.SCHEDULED):
        return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
    form = SendForm(
        request.POST or None,
        newsletter=newsletter,
        initial={"lists": [str(pk) for pk in campaign.lists.values_list("pk", flat=True)]},
    )
    if request.method == "POST" and form.is_valid():
        campaign.lists.set(form.chosen_lists())
        try:
            if request.POST.get("action") == "schedule":
                _schedule(campaign, form)
            else:
                count = engine.campaign_start(campaign=campaign)
                messages.success(request, _("Sending to %(count)s people.") % {"count": count})
            return redirect("dashboard:campaign_sending", slug=newsletter.slug, pk=campaign.pk)
        except engine.CampaignStateError as error:
            form.add_error(None, str(error))
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
    list_ids = [lst.pk for lst in newsletter.lists.all() if str(lst.pk) in ticked]
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
