from django.db import connection
from django.dispatch import receiver
from django.utils import timezone

from campaigns.models import Campaign
from delivery import system_mail
from delivery.models import Delivery, DeliveryEvent, OutboxMessage
from newsletter.mail import SystemMessage, system_mail_requested
from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased, unsubscribed


@receiver(subscriber_erased, sender=Subscriber)
def forget_erased_contact(sender, contact: Subscriber, email: str, everywhere: bool, **kwargs):
    """Erasure leaves nothing here that quotes the person: the contact's delivery errors
    and feedback details (receiving servers quote the address), and the newsletter's
    outbox copies of mail to them (all copies, for the person's own "erase me")."""
    # The contact's newsletter's campaigns named: each is one probe of the unique
    # (campaign, subscriber) index, where the subscriber alone would scan every row.
    campaigns = list(
        Campaign.objects.filter(newsletter_id=contact.newsletter_id).values_list("pk", flat=True)
    )
    deliveries = Delivery.objects.filter(campaign_id__in=campaigns, subscriber_id=contact.pk)
    deliveries.exclude(last_error="").update(last_error="")
    DeliveryEvent.objects.filter(delivery__in=deliveries).exclude(detail="").update(detail="")
    if not email:
        return
    copies = OutboxMessage.objects.all()
    if not everywhere:
        copies = copies.filter(newsletter_id=contact.newsletter_id)
    if connection.features.supports_json_field_contains:
        copies.filter(recipients__contains=[email]).delete()
        return
    doomed = [
        pk for pk, recipients in copies.values_list("pk", "recipients") if email in recipients
    ]
    OutboxMessage.objects.filter(pk__in=doomed).delete()


@receiver(unsubscribed, sender=Subscriber)
def count_unsubscribe_through_message(
    sender, subscriber: Subscriber, campaign_id: int | None = None, **kwargs
) -> None:
    """The person left through this campaign's mail: its delivery row says so, once, and
    the campaign's report counts it (delivery.selectors.feedback_counts)."""
    if campaign_id is None:
        return
    Delivery.objects.filter(
        campaign_id=campaign_id, subscriber_id=subscriber.pk, unsubscribed_at__isnull=True
    ).update(unsubscribed_at=timezone.now())


@receiver(system_mail_requested, sender=SystemMessage)
def send_system_mail(sender, message: SystemMessage, **kwargs) -> int:
    """The apps below delivery (subscribers, participation) describe their mail and ask;
    it is built and sent here, the one way every system message is (``system_mail``)."""
    return system_mail.send(message)
