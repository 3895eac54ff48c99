"""Which signal becomes which webhook event: one line per signal in ``RECEIVERS``.

Receivers only write outbox rows (``services.enqueue``), inside the sender's
transaction when there is one, so an event is recorded exactly when its change is;
an erasure blanks the rows about the erased contact (``services.forget_contact``).
"""

from collections.abc import Callable

from campaigns.models import Campaign
from campaigns.signals import campaign_sent
from delivery.signals import delivery_bounced, delivery_complained
from subscribers import signals as subscriber_signals
from subscribers.models import MailingList, Subscriber

from . import services
from .events import Event


def subscriber_data(subscriber: Subscriber, lists: list[MailingList] | None = None) -> dict:
    data = {
        "subscriber": {
            "id": subscriber.pk,
            "email": subscriber.email,
            "name": subscriber.name,
            "status": subscriber.status,
        }
    }
    if lists is not None:
        data["lists"] = [
            {"slug": mailing_list.slug, "name": mailing_list.name} for mailing_list in lists
        ]
    return data


def subscription_receiver(event: Event) -> Callable:
    """For subscribers' signals: ``subscriber``, ``newsletter``, ``lists``."""

    def receive(sender, *, subscriber, newsletter, lists, **kwargs) -> None:
        services.enqueue(
            newsletter=newsletter, event=event, data=subscriber_data(subscriber, lists)
        )

    return receive


def delivery_receiver(event: Event) -> Callable:
    """For delivery feedback signals (bounce, complaint): ``delivery``, ``subscriber``."""

    def receive(sender, *, delivery, subscriber, bounce_type: str = "", **kwargs) -> None:
        campaign = delivery.campaign
        data = subscriber_data(subscriber)
        data["campaign"] = {"id": campaign.pk, "name": campaign.name}
        if bounce_type:
            data["bounce_type"] = bounce_type
        services.enqueue(newsletter=campaign.newsletter, event=event, data=data)

    return receive


def on_subscriber_erased(sender, *, contact: Subscriber, **kwargs) -> None:
    services.forget_contact(contact_id=contact.pk, newsletter_id=contact.newsletter_id)


def on_campaign_sent(sender, *, campaign: Campaign, **kwargs) -> None:
    data = {
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "subject": campaign.subject,
            "sent_at": campaign.sent_at.isoformat() if campaign.sent_at else None,
            "lists": list(campaign.lists.values_list("slug", flat=True)),
        }
    }
    services.enqueue(newsletter=campaign.newsletter, event=Event.CAMPAIGN_SENT, data=data)


RECEIVERS = [
    (subscriber_signals.subscribed, subscription_receiver(Event.SUBSCRIBED)),
    (subscriber_signals.confirmed, subscription_receiver(Event.CONFIRMED)),
    (subscriber_signals.unsubscribed, subscription_receiver(Event.UNSUBSCRIBED)),
    (subscriber_signals.subscriber_erased, on_subscriber_erased),
    (campaign_sent, on_campaign_sent),
    (delivery_bounced, delivery_receiver(Event.BOUNCED)),
    (delivery_complained, delivery_receiver(Event.COMPLAINED)),
]


def connect_all() -> None:
    for index, (signal, receiver) in enumerate(RECEIVERS):
        signal.connect(receiver, weak=False, dispatch_uid=f"webhooks:{index}")
