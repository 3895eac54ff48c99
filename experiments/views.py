"""The experiment's dashboard pages: set it up on a draft, decide it from the report."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from newsletter.access import member_required
from newsletter.models import Newsletter, Role

from . import services
from .forms import ExperimentForm
from .models import Experiment


def _campaign(newsletter: Newsletter, pk: int) -> Campaign:
    return get_object_or_404(Campaign, newsletter=newsletter, pk=pk)


@member_required(Role.EDITOR)
def experiment_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    if campaign.has_started:
        return redirect("dashboard:campaign_report", slug=newsletter.slug, pk=campaign.pk)
    experiment = Experiment.objects.filter(campaign=campaign).first()
    form = ExperimentForm(request.POST or None, experiment=experiment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.experiment_save(
                campaign=campaign,
                metric=data["metric"],
                sample_kind=data["sample_kind"],
                sample_size=data["sample_size"],
                wait_hours=data["wait_hours"],
                decision=data["decision"],
                variants=form.variants(),
            )
        except ValidationError as error:
            form.add_variant_errors(error.message_dict)
        else:
            messages.success(request, _("Experiment saved: it starts when the campaign is sent."))
            return redirect("dashboard:campaign_edit", slug=newsletter.slug, pk=campaign.pk)
    return render(
        request,
        "experiments/experiment_form.html",
        {
            "newsletter": newsletter,
            "campaign": campaign,
            "experiment": experiment,
            "form": form,
            "labels": "ABCD",
        },
        status=422 if form.errors else 200,
    )


@require_POST
@member_required(Role.EDITOR)
def experiment_delete(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    try:
        services.experiment_delete(campaign=campaign)
    except services.ExperimentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Experiment removed: everyone gets the campaign as it is."))
    return redirect("dashboard:campaign_edit", slug=newsletter.slug, pk=campaign.pk)


@require_POST
@member_required(Role.EDITOR)
def experiment_decide(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    campaign = _campaign(newsletter, pk)
    experiment = Experiment.objects.filter(campaign=campaign).first()
    if experiment is None:
        messages.error(request, _("This campaign runs no experiment."))
        return redirect("dashboard:campaign_report", slug=newsletter.slug, pk=campaign.pk)
    try:
        experiment = services.experiment_decide(
            experiment=experiment,
            actor=request.user.get_username(),
            label=request.POST.get("winner", ""),
        )
    except services.ExperimentError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Variant %(label)s won: it is going to the rest of the audience.")
            % {"label": experiment.winner},
        )
    return redirect("dashboard:campaign_report", slug=newsletter.slug, pk=campaign.pk)
