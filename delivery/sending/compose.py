"""Stage 3, compose: who of the claimed rows may still receive the campaign, and the
message each gets: the campaign's own, or its experiment variant's (composed once per
variant), in the copy the reader chose (untracked, text only: ``CampaignMessages``)."""

from campaigns.models import Campaign
from campaigns.services import campaign_render, campaign_variant, campaign_variants
from subscribers.models import MailFormat, Subscriber

from ..audience import eligible
from ..messages import Addressee, CampaignMessages
from ..models import Delivery

Row = tuple[int, int]  # (delivery id, subscriber id)


class Composer:
    """The campaign's messages for this task, rebuilt only when its render changes."""

    def __init__(self) -> None:
        self.variants: dict[str, CampaignMessages] = {}
        self.experiment = False

    def groups(
        self, campaign: Campaign, rows: list[Row]
    ) -> list[tuple[CampaignMessages, list[Row]]]:
        """The batch's rows with the messages they are sent with, one group per variant
        ("" for everyone outside an experiment's sample)."""
        own = self.variants.get("")
        if own is None or own.rendered.digest != campaign.rendered_digest:
            self.variants = {"": CampaignMessages(campaign, campaign_render(campaign=campaign))}
            self.experiment = bool(campaign_variants(campaign=campaign))
        groups = []
        for label, group in by_variant(rows, self.experiment).items():
            if label not in self.variants:
                copy, rendered = campaign_variant(campaign=campaign, label=label)
                self.variants[label] = CampaignMessages(copy, rendered, sample_variant=label)
            groups.append((self.variants[label], group))
        return groups


def by_variant(rows: list[Row], experiment: bool) -> dict[str, list[Row]]:
    """A batch's rows by experiment variant ("" for everyone outside the sample): each
    group is sent with its variant's message, composed once. One query, and only for a
    campaign with an experiment."""
    if not experiment:
        return {"": rows}
    labels = dict(
        Delivery.objects.filter(id__in=[row[0] for row in rows]).values_list("id", "variant")
    )
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(labels.get(row[0], ""), []).append(row)
    return groups


def addressees(rows: list[Row], campaign: Campaign) -> tuple[list[Addressee], list[int]]:
    """The rows whose reader may still receive the campaign now (``audience.eligible``:
    consent is checked again at every batch), as addressees; and the others' ids, which
    the caller skips."""
    allowed = eligible((subscriber_id for _, subscriber_id in rows), campaign)
    people = {
        subscriber.pk: subscriber
        for subscriber in Subscriber.objects.filter(pk__in=allowed).only(
            "pk", "email", "name", "attributes", "tracking_opt_out", "tracking_off", "mail_format"
        )
    }
    found, skipped = [], []
    for delivery_id, subscriber_id in rows:
        person = people.get(subscriber_id)
        if person is None:
            skipped.append(delivery_id)
            continue
        found.append(
            Addressee(
                delivery_id=delivery_id,
                subscriber_id=subscriber_id,
                email=person.email,
                name=person.name,
                attributes=person.attributes,
                list_name=allowed[subscriber_id][0],
                list_id=allowed[subscriber_id][1],
                tracking_opt_out=person.tracking_opt_out,
                untracked=person.tracking_off,
                text_only=person.mail_format == MailFormat.TEXT,
            )
        )
    return found, skipped
