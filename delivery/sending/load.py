"""Stage 1, load: the campaign as it is now (its status decides whether to go on) and
the newsletter's transport, and how many rows a claim may take for it."""

import logging

from django.conf import settings

from campaigns.models import Campaign
from newsletter.encryption import DecryptionError

from .. import transports
from ..ledger import lease
from ..lifecycle import pause_for_errors
from ..transports import Transport

logger = logging.getLogger(__name__)


def load_campaign(campaign_id: int) -> Campaign:
    """The campaign with its newsletter, read afresh before every claim so that a pause
    takes effect within a batch; the cached render (tens of KB) is left for ``compose``,
    which reads it only when it changed."""
    return (
        Campaign.objects.select_related("newsletter")
        .defer("rendered_subject", "rendered_html", "rendered_text")
        .get(pk=campaign_id)
    )


def load_transport(campaign: Campaign) -> Transport | None:
    """The newsletter's transport; None (and the campaign paused, its owners told) when
    its stored secrets cannot be read: nothing can be sent until an owner fixes them."""
    try:
        return transports.transport_for(campaign.newsletter_id)
    except DecryptionError:
        logger.exception("sending backend unreadable", extra={"campaign": campaign.pk})
        pause_for_errors(campaign.pk)
        return None


def batch_size(transport: Transport) -> int:
    """Enough rows for one full ESP call when the backend batches calls; never so many
    that a slow rate holds them past their lease."""
    size = settings.SEND_BATCH_SIZE
    if transport.batches_calls:
        size = max(size, transport.recipients_per_call)
    if transport.per_second > 0:
        size = min(size, int(transport.per_second * lease().total_seconds() / 4))
    return max(1, size)
