"""Repairs what dead workers and a lost broker leave behind: claimed rows of a worker
that fell silent (delivery/heartbeats.py) or whose lease expired go back to the queue;
in-flight ones become ``uncertain`` (never resent); campaigns with due rows and no live
worker are dispatched again, and those with nothing left are finished. Safe to run
anywhere, often (beat runs it every 30 s).
"""

import logging
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign, Status

from .heartbeats import silent_workers_take_back
from .ledger import take_back
from .lifecycle import dispatch, finish_if_done
from .models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    requeued: int
    uncertain: int
    redispatched: list[int]
    finished: list[int]


def sweep() -> SweepReport:
    """Repair what dead workers and a lost broker left behind; safe to run anywhere, often."""
    silent = silent_workers_take_back()
    now = timezone.now()
    requeued, uncertain, _ = take_back(
        Delivery.objects.filter(lease_until__lt=now), reason="stopped"
    )
    requeued += silent.requeued
    uncertain += silent.uncertain
    redispatched, finished = [], []
    sending = Campaign.objects.filter(status=Status.SENDING).exclude(pk__in=silent.dispatched)
    for campaign_id in sending.values_list("pk", flat=True):
        live = Delivery.objects.filter(
            campaign_id=campaign_id,
            status__in=(DeliveryStatus.CLAIMED, DeliveryStatus.IN_FLIGHT),
            lease_until__gte=now,
        ).exists()
        if live:
            continue
        # Rows waiting for their time (a reader's local hour, a spent quota) are left
        # until it comes: no worker is woken to find nothing it may claim.
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        queued = Delivery.objects.filter(due, campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
        if queued.exists():
            dispatch(campaign_id)
            redispatched.append(campaign_id)
        elif finish_if_done(campaign_id):
            finished.append(campaign_id)
    if requeued or uncertain or redispatched:
        logger.info(
            "sweep",
            extra={"requeued": requeued, "uncertain": uncertain, "redispatched": redispatched},
        )
    return SweepReport(requeued, uncertain, redispatched, finished)
