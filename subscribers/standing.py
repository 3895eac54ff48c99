"""Where a contact stands, in words that match what they did.

A status alone ("Unsubscribed from everything") does not say how or when; the
consent ledger does. The dashboard shows both: a short label, and a sentence read
from the contact's latest departure in the ledger ("Unsubscribed from all lists on
3 Dec via the link in “Kernel 7.0”"). Two queries for a page of contacts, whatever
its size: the latest departures, then the campaigns they name.
"""

import zoneinfo
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from newsletter.models import Newsletter

from .models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)

DEPARTURES = Q(action=ConsentAction.UNSUBSCRIBED)


@dataclass(frozen=True)
class Standing:
    label: str
    sentence: str = ""
    left: bool = False  # the sentence tells of a departure (shown as a warning)


def standings(newsletter: Newsletter, contacts: list[Subscriber]) -> dict[int, Standing]:
    """Each contact's standing, by id. Contacts come with their subscriptions
    prefetched (``selectors.subscribers_of``, ``selectors.contact_of``)."""
    departures = {
        event.subscriber_id: event
        for event in ConsentEvent.objects.filter(
            DEPARTURES, subscriber_id__in=[contact.pk for contact in contacts]
        )
        .select_related("mailing_list")
        .order_by("subscriber_id", "-id")
        .distinct("subscriber_id")
    }
    campaign_ids = {
        event.details.get("campaign")
        for event in departures.values()
        if isinstance(event.details.get("campaign"), int)
    }
    campaigns = dict(
        newsletter.campaigns.filter(pk__in=campaign_ids).values_list("pk", "name")
        if campaign_ids
        else []
    )
    zone = zoneinfo.ZoneInfo(newsletter.timezone)
    return {
        contact.pk: _standing(contact, departures.get(contact.pk), campaigns, zone)
        for contact in contacts
    }


def _standing(
    contact: Subscriber,
    departure: ConsentEvent | None,
    campaigns: dict[int, str],
    zone: zoneinfo.ZoneInfo,
) -> Standing:
    status = contact.status
    if status in (SubscriberStatus.ERASED, SubscriberStatus.BOUNCED):
        return Standing(contact.get_status_display())
    campaign = campaigns.get((departure.details or {}).get("campaign")) if departure else None
    if status == SubscriberStatus.COMPLAINED:
        if departure is None:
            return Standing(contact.get_status_display())
        when = _day(departure, zone)
        sentence = (
            gettext("Marked “%(campaign)s” as spam on %(date)s")
            % {"campaign": campaign, "date": when}
            if campaign
            else gettext("Marked a message as spam on %(date)s") % {"date": when}
        )
        return Standing(contact.get_status_display(), sentence, left=True)
    if status == SubscriberStatus.UNSUBSCRIBED:
        if departure is None:
            return Standing(contact.get_status_display())
        # Translators: the date, then how (“via the link in “Kernel 7.0””).
        sentence = gettext("Unsubscribed from all lists on %(date)s %(how)s") % {
            "date": _day(departure, zone),
            "how": _how(departure, campaign),
        }
        return Standing(contact.get_status_display(), sentence, left=True)
    subscriptions = list(contact.subscriptions.all())
    live = [sub for sub in subscriptions if sub.status != SubscriptionStatus.UNSUBSCRIBED]
    label = (
        pgettext("subscriber standing", "Waiting for confirmation")
        if live and all(sub.status == SubscriptionStatus.PENDING for sub in live)
        else contact.get_status_display()
    )
    left_list = departure is not None and any(
        sub.mailing_list_id == departure.mailing_list_id
        and sub.status == SubscriptionStatus.UNSUBSCRIBED
        for sub in subscriptions
    )
    if not left_list:
        return Standing(label)
    # Translators: a list's name, the date, then how (“via the link in “Kernel 7.0””).
    sentence = gettext("Unsubscribed from %(list)s on %(date)s %(how)s") % {
        "list": departure.mailing_list.name,
        "date": _day(departure, zone),
        "how": _how(departure, campaign),
    }
    return Standing(label, sentence, left=True)


def _day(event: ConsentEvent, zone: zoneinfo.ZoneInfo) -> str:
    """“3 Dec” this year, “3 Dec 2025” before, in the newsletter's time zone."""
    at = timezone.localtime(event.created_at, zone)
    same_year = at.year == timezone.localtime(timezone.now(), zone).year
    return date_format(at, "j M" if same_year else "j M Y")


def _how(event: ConsentEvent, campaign: str | None) -> str:
    """How the person left, naming the campaign whose mail they used when known."""
    source = event.source
    values = {"campaign": campaign, "actor": (event.details or {}).get("actor", "")}
    if source == ConsentSource.UNSUBSCRIBE_PAGE:
        if campaign:
            return gettext("via the link in “%(campaign)s”") % values
        return gettext("via the unsubscribe link")
    if source == ConsentSource.ONE_CLICK:
        if campaign:
            return gettext("with their mail app's unsubscribe button on “%(campaign)s”") % values
        return gettext("with their mail app's unsubscribe button")
    if source == ConsentSource.MAIL:
        if campaign:
            return gettext("by mail to the unsubscribe address of “%(campaign)s”") % values
        return gettext("by mail to the unsubscribe address")
    if source == ConsentSource.ESP_UNSUBSCRIBE:
        if campaign:
            return gettext("at the sending service, from “%(campaign)s”") % values
        return gettext("at the sending service")
    if source == ConsentSource.ESP_COMPLAINT:
        if campaign:
            return gettext("by marking “%(campaign)s” as spam") % values
        return gettext("by marking a message as spam")
    if source == ConsentSource.PREFERENCE_CENTER:
        return gettext("in the preference center")
    if source == ConsentSource.SELF_SERVICE:
        return gettext("on their own data page")
    if source == ConsentSource.DASHBOARD and values["actor"]:
        return gettext("by %(actor)s") % values
    # Translators: how someone left, when no sentence says it better (“(API)”).
    return gettext("(%(source)s)") % {"source": event.get_source_display()}
