"""Who left is visible: a person who used a campaign's unsubscribe link, its one-click
header, its unsubscribe address or the ESP shows as having left, in words that say how,
the filter "Unsubscribed from everything" finds them, and the campaign's report counts
each person once — under the default aggregate tracking policy, with no tracking row."""

import html
import re
from email.message import EmailMessage

import pytest
from django.urls import reverse

from delivery import feedback, lifecycle, sending, unsubscribe_mail
from delivery.models import Delivery, FeedbackKind, OutboxMessage
from newsletter.models import Role, TrackingPolicy
from subscribers import services
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from subscribers.tokens import Claim
from tests.factories import CampaignFactory, MailingListFactory, MembershipFactory
from tracking.models import Engagement, Event

pytestmark = pytest.mark.django_db
MAILTO = "unsubscribe@lists.example.org"
PEOPLE = ("ada@example.org", "grace@example.org", "linus@example.org", "margaret@example.org")


@pytest.fixture
def sent(settings):
    """Issue 12 of an aggregate-tracking newsletter, sent to four people on two lists."""
    settings.UNSUBSCRIBE_MAILTO = MAILTO
    releases = MailingListFactory(slug="releases", name="Releases")
    newsletter = releases.newsletter
    assert newsletter.tracking_policy == TrackingPolicy.AGGREGATE
    contributors = MailingListFactory(
        newsletter=newsletter, slug="contributors", name="Contributors"
    )
    for email in PEOPLE:
        services.subscribe(
            newsletter=newsletter,
            email=email,
            lists=[releases, contributors],
            source=ConsentSource.DASHBOARD,
            wording="x",
            attestation="Signed up at the booth",
        )
    campaign = CampaignFactory(newsletter=newsletter, name="Issue 12")
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    editor = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    return campaign, contributors, editor


def header_targets(email: str) -> tuple[str, str]:
    """The HTTPS and mailto: targets of the List-Unsubscribe header of the person's mail."""
    header = str(OutboxMessage.objects.get(recipients=[email]).parsed()["List-Unsubscribe"])
    https, mailto = (target.strip().strip("<>") for target in header.split(","))
    return https, mailto.removeprefix("mailto:").partition("?")[0]


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def contact(email: str) -> Subscriber:
    return Subscriber.objects.get(email=email)


def report_count(client, campaign, key: str) -> str:
    url = reverse("dashboard:campaign_report", args=[campaign.newsletter.slug, campaign.pk])
    html = client.get(url).content.decode()
    return html.split(f'data-count="{key}">', 1)[1].split("<", 1)[0]


def test_the_link_in_a_campaign_leaves_every_list_and_says_so(client, sent):
    campaign, _contributors, editor = sent
    https, _ = header_targets("ada@example.org")
    assert f"?c={campaign.pk}" in https, "the link names the campaign it came in"
    response = client.post(path_of(https), {"scope": "newsletter"})
    assert response.status_code == 200

    ada = contact("ada@example.org")
    assert ada.status == SubscriberStatus.UNSUBSCRIBED
    assert not ada.subscriptions.exclude(status=SubscriptionStatus.UNSUBSCRIBED).exists()
    client.force_login(editor)
    listing = reverse("dashboard:subscriber_list", args=[campaign.newsletter.slug])
    page = client.get(listing, {"status": SubscriberStatus.UNSUBSCRIBED}).content.decode()
    assert "ada@example.org" in page
    assert "grace@example.org" not in page
    assert re.search(r"Unsubscribed from all lists on \d+ \w+ via the link in “Issue 12”", page)
    detail = reverse("dashboard:subscriber_detail", args=[campaign.newsletter.slug, ada.pk])
    assert "via the link in “Issue 12”" in client.get(detail).content.decode()


def test_leaving_one_list_names_it_and_the_person_stays_active(client, sent):
    campaign, contributors, editor = sent
    grace = contact("grace@example.org")
    services.unsubscribe(
        claim=Claim(grace.pk, campaign.newsletter_id),
        source=ConsentSource.UNSUBSCRIBE_PAGE,
        mailing_list=contributors,
        campaign_id=campaign.pk,
    )
    grace.refresh_from_db()
    assert grace.status == SubscriberStatus.ACTIVE
    client.force_login(editor)
    listing = reverse("dashboard:subscriber_list", args=[campaign.newsletter.slug])
    page = client.get(listing, {"q": "grace"}).content.decode()
    assert re.search(r"Unsubscribed from Contributors on \d+ \w+ via the link in “Issue 12”", page)
    unsubscribed = client.get(listing, {"status": SubscriberStatus.UNSUBSCRIBED})
    assert "grace@example.org" not in unsubscribed.content.decode()


def test_the_report_counts_each_way_out_once_per_person_without_tracking_rows(client, sent):
    campaign, _contributors, editor = sent
    ada_https, _ = header_targets("ada@example.org")
    grace_https, _ = header_targets("grace@example.org")
    _, linus_mailto = header_targets("linus@example.org")
    # Ada: the page, then the same link again; Grace: her mail app's one-click button.
    client.post(path_of(ada_https), {"scope": "newsletter"})
    client.post(path_of(ada_https), {"scope": "newsletter"})
    client.post(path_of(grace_https), {"List-Unsubscribe": "One-Click"})
    # Linus writes to his unsubscribe address; the ESP then reports it too.
    message = EmailMessage()
    message["To"] = linus_mailto
    message["Subject"] = "unsubscribe"
    assert unsubscribe_mail.process_message(message.as_bytes()).verdict == "unsubscribed"
    linus_delivery = Delivery.objects.get(subscriber=contact("linus@example.org"))
    for event_id in ("esp-1", "esp-2"):
        feedback.record(
            feedback=feedback.Feedback(
                esp="test",
                event_id=event_id,
                kind=FeedbackKind.UNSUBSCRIBED,
                delivery_id=linus_delivery.pk,
            ),
            scope=feedback.INTERNAL,
        )

    client.force_login(editor)
    assert report_count(client, campaign, "unsubscribed") == "3"
    assert report_count(client, campaign, "esp_unsubscribed") == "1 at the sending service"
    assert not Event.objects.exists() and not Engagement.objects.exists()
    sources = set(
        ConsentEvent.objects.filter(details__campaign=campaign.pk).values_list("source", flat=True)
    )
    assert sources == {ConsentSource.UNSUBSCRIBE_PAGE, ConsentSource.ONE_CLICK, ConsentSource.MAIL}
    listing = reverse("dashboard:subscriber_list", args=[campaign.newsletter.slug])
    page = html.unescape(client.get(listing).content.decode())
    assert "with their mail app's unsubscribe button on “Issue 12”" in page
    assert "by mail to the unsubscribe address of “Issue 12”" in page


def test_a_campaign_the_person_was_not_sent_is_not_credited(client, sent):
    campaign, _contributors, _editor = sent
    other = CampaignFactory(newsletter=campaign.newsletter, name="Issue 13")
    https, _ = header_targets("ada@example.org")
    client.post(path_of(https).replace(f"c={campaign.pk}", f"c={other.pk}"), {"scope": "all"})
    assert contact("ada@example.org").status == SubscriberStatus.UNSUBSCRIBED
    assert not ConsentEvent.objects.filter(details__has_key="campaign").exists()
    assert not Delivery.objects.filter(unsubscribed_at__isnull=False).exists()


def test_a_complaint_is_counted_as_one_and_named_on_the_person(client, sent):
    campaign, _contributors, editor = sent
    margaret = contact("margaret@example.org")
    delivery = Delivery.objects.get(subscriber=margaret)
    feedback.record(
        feedback=feedback.Feedback(
            esp="test", event_id="spam-1", kind=FeedbackKind.COMPLAINED, delivery_id=delivery.pk
        ),
        scope=feedback.INTERNAL,
    )
    client.force_login(editor)
    assert report_count(client, campaign, "complained") == "1"
    assert report_count(client, campaign, "unsubscribed") == "0"
    detail = reverse("dashboard:subscriber_detail", args=[campaign.newsletter.slug, margaret.pk])
    assert re.search(r"Marked “Issue 12” as spam on \d+ \w+", client.get(detail).content.decode())
