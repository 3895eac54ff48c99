"""Campaigns whose recipients arrive one at a time: the emails of automation steps.

An automation step's campaign is opened once (``lifecycle.campaign_open``: ``sending``,
with nobody yet) and stays open while its automation runs. Each person who reaches the
step gets one row in the same ledger as any campaign (``ledger.add_recipient``: unique
per campaign and subscriber, inserted with ``ON CONFLICT DO NOTHING``), and the same
engine sends it: batches claimed under a lease, a sweeper that requeues what a dead
worker held and re-dispatches what a flushed Redis lost. So a step is sent once per
person however often the automation retries it.
"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from campaigns.models import Campaign

from . import ledger
from .lifecycle import dispatch


def recipient_add(*, campaign_id: int, subscriber_id: int) -> bool:
    """Queue this person's message, once ever: False when they already have their row.

    Runs in the caller's transaction, so the row exists exactly when the step that
    reached it is recorded; the caller dispatches after its commit (``dispatch_open``).
    """
    added = ledger.add_recipient(campaign_id=campaign_id, subscriber_id=subscriber_id)
    if added:
        # The progress page counts sent messages as recipients minus rows not sent.
        Campaign.objects.filter(pk=campaign_id).update(
            recipient_count=Coalesce(F("recipient_count"), 0) + 1
        )
    return added


def dispatch_open(campaign_ids: Iterable[int]) -> None:
    """After the caller's commit, start the workers of each campaign that got people;
    if Redis loses the tasks, the sweeper re-dispatches (the rows are queued)."""
    ids = sorted(set(campaign_ids))
    if ids:
        transaction.on_commit(lambda: [dispatch(campaign_id) for campaign_id in ids])
