"""What experiments add to the campaign editor and the campaign report (through
``campaigns.extensions``: neither page imports this app)."""

from django.utils import timezone

from campaigns.extensions import ReportSection
from campaigns.models import Campaign, Status

from .models import Experiment, State
from .results import experiment_results


def editor_sections(campaign: Campaign) -> list[ReportSection]:
    experiment = Experiment.objects.filter(campaign=campaign).first()
    variants = list(experiment.variants.all()) if experiment else []
    return [
        ReportSection(
            template="experiments/_editor_section.html",
            context={"campaign": campaign, "experiment": experiment, "variants": variants},
        )
    ]


def report_sections(campaign: Campaign) -> list[ReportSection]:
    experiment = Experiment.objects.filter(campaign=campaign).first()
    if experiment is None or experiment.state == State.READY:
        return []
    results = experiment_results(experiment=experiment)
    rows = [
        {
            "label": figure.label,
            "subject": figure.subject,
            "sent": figure.sent,
            "count": figure.count,
            "percent": round(figure.rate * 100, 1),
            "low": round(figure.interval[0] * 100, 1),
            "high": round(figure.interval[1] * 100, 1),
            "winner": figure.label == experiment.winner,
        }
        for figure in results.variants
    ]
    return [
        ReportSection(
            template="experiments/_report_section.html",
            context={
                "campaign": campaign,
                "experiment": experiment,
                "results": results,
                "rows": rows,
                "can_decide": experiment.state == State.TESTING
                and campaign.status in (Status.SENDING, Status.PAUSED),
                "due": experiment.decide_at is not None and experiment.decide_at <= timezone.now(),
            },
        )
    ]
