"""Campaign pages that join its content (``campaigns``) and its schedule (``delivery``):
the editor, where a campaign's lists and "Send at" sit beside its content, scheduling
from the campaign list, and deleting a campaign that never started.

Content rules are ``campaigns.services``'; every change of status is the engine's
(``delivery.lifecycle``). An edit and its scheduling commit together or not at all.
"""

import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils import timezone as django_timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns import extensions
from campaigns import selectors as campaign_selectors
from campaigns import services as campaign_services
from campaigns.editions import language_name
from campaigns.models import Campaign, Status
from delivery import lifecycle
from delivery.forms import ScheduleForm
from newsletter.access import member_required
from newsletter.forms import add_service_errors
from newsletter.models import Newsletter, Role

from .forms import CampaignEditorForm


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(newsletter.campaigns.select_related("newsletter"), pk=pk)


def _when(campaign: Campaign) -> str:
    """The scheduled time as the newsletter reads it, for messages."""
    zone = zoneinfo.ZoneInfo(campaign.newsletter.timezone)
    local = django_timezone.localtime(campaign.send_at, zone)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} ({campaign.newsletter.timezone})"


@member_required(Role.EDITOR)
def campaign_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    if not campaign_selectors.layouts_of(newsletter).exists():
        campaign_services.install_default_layouts(newsletter=newsletter)
    return _editor(request, newsletter, campaign=None)


@member_required(Role.EDITOR)
def campaign_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    if campaign.has_started:
        messages.info(request, _("It has started sending: its content can no longer change."))
        return redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=campaign.pk)
    return _editor(request, newsletter, campaign=campaign)


def _editor(request: HttpRequest, newsletter: Newsletter, *, campaign: Campaign | None):
    """Content, lists and "Send at" in one form: saved with the time given, a campaign is
    (re)scheduled; with the time cleared, a scheduled or failed one is a draft again."""
    form = CampaignEditorForm(request.POST or None, instance=campaign, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        send_at = values.pop("send_at")
        try:
            with transaction.atomic():
                if campaign is None:
                    campaign = campaign_services.campaign_create(
                        newsletter=newsletter, created_by=request.user, **values
                    )
                else:
                    campaign_services.campaign_update(campaign=campaign, **values)
                campaign = _apply_schedule(campaign, send_at)
        except ValidationError as error:
            add_service_errors(form, error)
        except lifecycle.CampaignStateError as error:
            form.add_error("send_at", str(error))
        else:
            if campaign.status == Status.SCHEDULED:
                messages.success(
                    request, _("Saved; it goes out %(when)s.") % {"when": _when(campaign)}
                )
            else:
                messages.success(request, _("Draft saved."))
            return redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=campaign.pk)
    return render(
        request,
        "campaigns/campaign_form.html",
        {
            "newsletter": newsletter,
            "form": form,
            "campaign": campaign,
            # What other apps add (an experiment's variants): campaigns.extensions.
            "sections": extensions.editor_sections(campaign) if campaign else [],
            "editions": campaign_services.campaign_editions(campaign=campaign) if campaign else [],
            "default_language": language_name(newsletter.language),
        },
        status=422 if form.errors else 200,
    )


def _apply_schedule(campaign: Campaign, send_at) -> Campaign:
    campaign.refresh_from_db(fields=["status", "send_at"])
    if send_at is not None:
        return lifecycle.campaign_schedule(campaign=campaign, send_at=send_at)
    if campaign.status in (Status.SCHEDULED, Status.FAILED):
        return lifecycle.campaign_unschedule(campaign=campaign)
    return campaign


@require_POST
@member_required(Role.EDITOR)
def campaign_schedule(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Schedule, reschedule (``send_at``) or unschedule (``action=unschedule``) from the
    campaign list or the campaign's page; back there with what happened."""
    campaign = _campaign(newsletter, pk)
    back = _back(request, campaign)
    if request.POST.get("action") == "unschedule":
        try:
            lifecycle.campaign_unschedule(campaign=campaign)
        except lifecycle.CampaignStateError as error:
            messages.error(
                request, _("“%(name)s”: %(error)s") % {"name": campaign.name, "error": error}
            )
        else:
            messages.success(
                request,
                _("“%(name)s” is no longer scheduled: it is a draft.") % {"name": campaign.name},
            )
        return redirect(back)
    form = ScheduleForm(request.POST, newsletter=newsletter)
    if not form.is_valid() or form.cleaned_data["send_at"] is None:
        error = form.errors.get("send_at", [_("Choose when to send it.")])[0]
        messages.error(
            request, _("“%(name)s”: %(error)s") % {"name": campaign.name, "error": error}
        )
        return redirect(back)
    try:
        campaign = lifecycle.campaign_schedule(
            campaign=campaign, send_at=form.cleaned_data["send_at"]
        )
    except lifecycle.CampaignStateError as error:
        messages.error(
            request, _("“%(name)s”: %(error)s") % {"name": campaign.name, "error": error}
        )
    else:
        messages.success(
            request,
            _("“%(name)s” goes out %(when)s.") % {"name": campaign.name, "when": _when(campaign)},
        )
    return redirect(back)


def _back(request: HttpRequest, campaign: Campaign) -> str:
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse(
        "dashboard:campaign_preview", kwargs={"slug": campaign.newsletter.slug, "pk": campaign.pk}
    )


@member_required(Role.EDITOR)
def campaign_delete(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A page that asks first; only the button's POST deletes (``confirm=yes``)."""
    campaign = _campaign(newsletter, pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            lifecycle.campaign_delete(campaign=campaign)
        except lifecycle.CampaignStateError as error:
            messages.error(request, str(error))
            return redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=campaign.pk)
        messages.success(request, _("“%(name)s” deleted.") % {"name": campaign.name})
        return redirect("dashboard:campaign_list", slug=newsletter.slug)
    return render(
        request,
        "campaigns/campaign_delete.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "deletable": lifecycle.campaign_deletable(campaign=campaign),
        },
    )
