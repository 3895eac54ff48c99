"""Campaigns whose recipients arrive one at a time: the emails of automation steps.

An automation step's campaign is opened once (``sending``, with nobody yet) and stays
open while its automation runs. Each person who reaches the step gets one row in the
same ledger as any campaign (``Delivery``, unique per campaign and subscriber, inserted
with ``ON CONFLICT DO NOTHING``), and the same engine sends it: batches claimed under a
lease, a sweeper that requeues what a dead worker held and re-dispatches what a flushed
Redis lost. So a step is sent once per person however often the automation retries it.
"""

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, Kind, Status

from .lifecycle import CampaignStateError, _check_renders, _locked_in, _set_status, dispatch

ADD_RECIPIENT = """
INSERT INTO delivery_delivery
    (campaign_id, subscriber_id, status, attempts, last_error, esp_message_id, worker,
     created_at)
VALUES (%(campaign)s, %(subscriber)s, 'queued', 0, '', '', '', %(now)s)
ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
"""


@transaction.atomic
def campaign_open(*, campaign: Campaign) -> Campaign:
    """A step's campaign starts sending to nobody: people reach it one by one.

    Checked like any start (the newsletter may send, the content renders, a list that
    is not archived), so a broken step is refused when its automation is activated,
    not found out when the first person reaches it.
    """
    if campaign.kind != Kind.AUTOMATION:
        raise CampaignStateError("Only an automation step's campaign is opened this way.")
    campaign = _locked_in(campaign, (Status.DRAFT,))
    _check_renders(campaign)
    return _set_status(campaign, Status.SENDING, recipient_count=0, failure_reason="")


def recipient_add(*, campaign_id: int, subscriber_id: int) -> bool:
    """Queue this person's message, once ever: False when they already have their row.

    Runs in the caller's transaction, so the row exists exactly when the step that
    reached it is recorded; the caller dispatches after its commit (``dispatch_open``).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            ADD_RECIPIENT,
            {"campaign": campaign_id, "subscriber": subscriber_id, "now": timezone.now()},
        )
        added = cursor.rowcount == 1
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
