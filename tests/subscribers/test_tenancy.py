"""Newsletters that cannot touch each other: each hole of issue #13, as a scenario.

The rule: nothing a member, token, import or webhook of newsletter A does can read or
change what newsletter B holds, shows or sends. In every test, B knows the person
first (as "Bea", with attributes, a subscription and a consent ledger), then A acts.
"""

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from api.services import issue_token
from backup.exporting import export_newsletter
from delivery import lifecycle, sending
from delivery.models import Delivery, OutboxMessage
from newsletter.models import Role
from subscribers import emails, importing, ledger, services, suppressions, tokens
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from subscribers.tokens import Claim
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
    SubscriptionFactory,
)
from webhooks.models import Endpoint, WebhookDelivery

pytestmark = pytest.mark.django_db

EMAIL = "bea@example.org"


class Tenant:
    """A newsletter with a list, an owner session, an owner API token and a webhook."""

    def __init__(self, slug: str) -> None:
        self.newsletter = NewsletterFactory(slug=slug, name=f"News {slug.upper()}")
        self.news = MailingListFactory(newsletter=self.newsletter, slug="news", name="News")
        self.owner = MembershipFactory(newsletter=self.newsletter, role=Role.OWNER).user
        self.session = Client()
        self.session.force_login(self.owner)
        _, raw = issue_token(user=self.owner, newsletter=self.newsletter)
        self.api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        Endpoint.objects.create(
            newsletter=self.newsletter,
            url=f"https://hooks.example.org/{slug}",
            events=["subscriber.subscribed", "subscriber.confirmed", "subscriber.unsubscribed"],
        )

    def dashboard(self, name: str, *args) -> str:
        return reverse(f"dashboard:{name}", args=[self.newsletter.slug, *args])

    def contact(self, email: str = EMAIL) -> Subscriber | None:
        return Subscriber.objects.filter(newsletter=self.newsletter, email=email).first()


@pytest.fixture
def b(redis_client):
    """Newsletter B, which knows Bea: name, attributes, a confirmed subscription."""
    tenant = Tenant("b")
    services.subscribe(
        newsletter=tenant.newsletter,
        email=EMAIL,
        name="Bea",
        lists=[tenant.news],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="Signed up at B's booth",
    )
    services.update_subscriber(
        newsletter=tenant.newsletter, subscriber=tenant.contact(), attributes={"plan": "gold"}
    )
    return tenant


@pytest.fixture
def a(redis_client):
    return Tenant("a")


def snapshot_of(tenant: Tenant) -> dict:
    """Everything B holds about its people and sends to them."""
    contacts = Subscriber.objects.filter(newsletter=tenant.newsletter)
    return {
        "contacts": list(contacts.order_by("pk").values()),
        "subscriptions": list(
            Subscription.objects.filter(newsletter=tenant.newsletter).order_by("pk").values()
        ),
        "ledger": list(
            ConsentEvent.objects.filter(subscriber__in=contacts).order_by("pk").values()
        ),
        "suppressions": sorted(
            suppressions.applying(EMAIL, tenant.newsletter).values_list("reason", "newsletter")
        ),
        "webhooks": list(
            WebhookDelivery.objects.filter(endpoint__newsletter=tenant.newsletter)
            .order_by("pk")
            .values("event", "payload")
        ),
    }


def test_adding_bs_subscriber_to_as_list_makes_as_own_contact(a, b):
    before = snapshot_of(b)
    response = a.session.post(
        a.dashboard("subscriber_add"),
        {"email": EMAIL, "lists": ["news"], "attestation": "Met at A's booth"},
    )
    assert response.status_code == 302
    via_api = a.api.post(
        "/api/v1/subscribers/",
        {"email": EMAIL.upper(), "lists": ["news"], "attestation": "Again"},
        content_type="application/json",
    )
    assert via_api.status_code == 201
    assert snapshot_of(b) == before
    mine = a.contact()
    assert via_api.json()["id"] == mine.pk
    assert (mine.name, mine.attributes) == ("", {})
    assert Subscription.objects.get(subscriber=mine).mailing_list == a.news
    # The database itself refuses a subscription across newsletters.
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            subscriber=b.contact(), mailing_list=a.news, newsletter=a.newsletter
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(subscriber=mine, mailing_list=b.news, newsletter=a.newsletter)


def test_a_sees_nothing_b_knows_about_the_person(a, b):
    a.session.post(
        a.dashboard("subscriber_add"), {"email": EMAIL, "lists": ["news"], "attestation": "Yes"}
    )
    mine = a.contact()
    page = a.session.get(a.dashboard("subscriber_detail", mine.pk)).content.decode()
    listing = a.session.get(a.dashboard("subscriber_list"), {"q": "bea"}).content.decode()
    found = a.api.get("/api/v1/subscribers/", {"email": EMAIL}).json()["items"]
    for shown in (page, listing, json.dumps(found)):
        assert "Bea" not in shown.replace(EMAIL, "") and "gold" not in shown
    assert [item["id"] for item in found] == [mine.pk]
    # B's contact, by its id, is not A's to see.
    assert a.session.get(a.dashboard("subscriber_detail", b.contact().pk)).status_code == 404
    assert a.api.get(f"/api/v1/subscribers/{b.contact().pk}/").status_code == 404


def test_as_erasure_leaves_b_its_person_ledger_and_mail(a, b):
    a.session.post(
        a.dashboard("subscriber_add"), {"email": EMAIL, "lists": ["news"], "attestation": "Yes"}
    )
    before = snapshot_of(b)
    response = a.session.post(
        a.dashboard("subscriber_erase", a.contact().pk), {"confirm_email": EMAIL}
    )
    assert response.status_code == 302
    assert snapshot_of(b) == before
    assert suppressions.reasons(EMAIL, a.newsletter) == {"erased"}
    campaign = CampaignFactory(newsletter=b.newsletter)
    campaign.lists.set([b.news])
    assert lifecycle.campaign_start(campaign=campaign) == 1
    # The API's DELETE does the same.
    a.session.post(
        a.dashboard("subscriber_add"),
        {"email": "carl@example.org", "lists": ["news"], "attestation": "Yes"},
    )
    b_carl = services.subscribe(
        newsletter=b.newsletter,
        email="carl@example.org",
        lists=[b.news],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="Yes",
    ).subscriber
    assert (
        a.api.delete(f"/api/v1/subscribers/{a.contact('carl@example.org').pk}/").status_code == 204
    )
    b_carl.refresh_from_db()
    assert b_carl.email == "carl@example.org" and b_carl.subscriptions.get().status == "confirmed"


def test_as_import_of_a_cleaned_export_suppresses_for_a_only(a, b, tmp_path, settings):
    settings.IMPORT_DIR = str(tmp_path)
    path = tmp_path / "cleaned.csv"
    path.write_text(
        f"Email Address,First Name,Last Name,CLEAN_TIME\n{EMAIL},Mallory,X,2023-05-05 05:05:05\n"
    )
    batch = importing.start_import(
        newsletter=a.newsletter, mailing_list=a.news, attestation="Old tool", actor="a"
    )
    importing.import_file(batch=batch, path=path)
    assert suppressions.reasons(EMAIL, a.newsletter) == {"hard_bounce"}
    assert suppressions.reasons(EMAIL, b.newsletter) == set()
    campaign = CampaignFactory(newsletter=b.newsletter)
    campaign.lists.set([b.news])
    assert lifecycle.campaign_start(campaign=campaign) == 1


def test_as_edits_never_change_what_bs_merge_tags_print(a, b, tmp_path):
    a.session.post(
        a.dashboard("subscriber_add"), {"email": EMAIL, "lists": ["news"], "attestation": "Yes"}
    )
    mine = a.contact()
    assert (
        a.api.patch(
            f"/api/v1/subscribers/{mine.pk}/",
            {"name": "Mallory", "attributes": {"plan": "none"}},
            content_type="application/json",
        ).status_code
        == 200
    )
    path = tmp_path / "names.csv"
    path.write_text(f"email,name,plan\n{EMAIL},Eve,bronze\n")
    batch = importing.start_import(
        newsletter=a.newsletter, mailing_list=a.news, attestation="Old tool", actor="a"
    )
    importing.import_file(batch=batch, path=path)
    services.update_preferences(
        claim=Claim(mine.pk, a.newsletter.pk),
        preferences=services.Preferences(
            lists=frozenset(), name="Mal", language="fr", tracking="none"
        ),
    )

    b_contact = b.contact()
    assert (b_contact.name, b_contact.attributes, b_contact.language) == (
        "Bea",
        {"plan": "gold"},
        "",
    )
    assert not b_contact.tracking_opt_out and not b_contact.tracking_off
    campaign = CampaignFactory(
        newsletter=b.newsletter,
        body="Hello {{ subscriber.name }} ({{ subscriber.attributes.plan }})",
    )
    campaign.lists.set([b.news])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    sent = OutboxMessage.objects.get(newsletter=b.newsletter)
    assert "Hello Bea (gold)" in sent.body("plain")


def test_a_public_form_changes_no_existing_profile_before_the_address_confirms(
    b, django_capture_on_commit_callbacks
):
    nameless = services.subscribe(
        newsletter=b.newsletter,
        email="quiet@example.org",
        lists=[b.news],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="Yes",
    ).subscriber
    other_list = MailingListFactory(newsletter=b.newsletter, slug="other")
    form = {"email": "quiet@example.org", "name": "Mallory", "lists": ["other"], "consent": "on"}
    with django_capture_on_commit_callbacks() as callbacks:
        Client().post(reverse("subscribers:subscribe", args=[b.newsletter.slug]), form)
    nameless.refresh_from_db()
    assert nameless.name == ""
    assert Subscription.objects.get(subscriber=nameless, mailing_list=other_list).status == (
        SubscriptionStatus.PENDING
    )
    # The confirmation mail greets with the name given, and its link carries it.
    queued = [callback.args for callback in callbacks if "send_confirmation" in str(callback)]
    assert queued == [(nameless.pk, b.newsletter.pk, "Mallory", "")]
    assert emails.send_confirmation(  # as the queued task does
        subscriber_id=nameless.pk, newsletter_id=b.newsletter.pk, name="Mallory"
    )
    mail = OutboxMessage.objects.get()
    assert mail.body("plain").startswith("Hello Mallory,")
    assert "<p>Hello Mallory,</p>" in mail.body("html")
    link = re.search(r"http://127\.0\.0\.1:8000(/s/confirm/\S+/)", mail.body("plain")).group(1)
    Client().post(link)
    nameless.refresh_from_db()
    assert nameless.name == "Mallory"
    # Someone with a name keeps it, whatever a form says.
    Client().post(
        reverse("subscribers:subscribe", args=[b.newsletter.slug]),
        {**form, "email": EMAIL, "lists": ["other"]},
    )
    services.confirm(claim=Claim(b.contact().pk, b.newsletter.pk, name="Mallory"))
    assert b.contact().name == "Bea"


def test_a_new_subscribers_confirmation_mail_greets_them_by_the_name_they_gave(b):
    Client().post(
        reverse("subscribers:subscribe", args=[b.newsletter.slug]),
        {"email": "new@example.org", "name": "Nora", "lists": ["news"], "consent": "on"},
    )
    contact = b.contact("new@example.org")
    assert emails.send_confirmation(
        subscriber_id=contact.pk, newsletter_id=b.newsletter.pk, name="Nora"
    )
    assert OutboxMessage.objects.get().body("plain").startswith("Hello Nora,")


def test_webhooks_exports_and_filters_carry_only_their_newsletters_contact(a, b):
    before = list(WebhookDelivery.objects.filter(endpoint__newsletter=b.newsletter).values("pk"))
    a.api.post(
        "/api/v1/subscribers/",
        {"email": EMAIL, "name": "Alias", "lists": ["news"], "attestation": "Yes"},
        content_type="application/json",
    )
    suppressions.suppress(email=EMAIL, reason="manual", newsletter=b.newsletter)
    # A's change reached A's endpoint only, naming A's contact.
    assert (
        list(WebhookDelivery.objects.filter(endpoint__newsletter=b.newsletter).values("pk"))
        == before
    )
    payloads = [
        row.payload["data"]["subscriber"]
        for row in WebhookDelivery.objects.filter(endpoint__newsletter=a.newsletter)
    ]
    assert payloads and {(p["id"], p["name"]) for p in payloads} == {(a.contact().pk, "Alias")}
    # A's export holds A's contact and A's suppressions, nothing of B's.
    stream = io.StringIO()
    export_newsletter(newsletter=a.newsletter, stream=stream)
    exported = stream.getvalue()
    assert "Bea" not in exported and "gold" not in exported
    assert f'"pk": {b.contact().pk},' not in exported
    assert '"reason": "manual"' not in exported
    # The API's address filter finds A's contact only.
    items = a.api.get("/api/v1/subscribers/", {"email": EMAIL}).json()["items"]
    assert [item["id"] for item in items] == [a.contact().pk]


def test_bs_links_act_on_bs_contact_only(a, b):
    a.session.post(
        a.dashboard("subscriber_add"), {"email": EMAIL, "lists": ["news"], "attestation": "Yes"}
    )
    mine_before = snapshot_of(a)
    b_claim = Claim(b.contact().pk, b.newsletter.pk)
    Client().post(
        reverse("subscribers:unsubscribe", args=[tokens.unsubscribe_token(b_claim)]),
        {"List-Unsubscribe": "One-Click"},
    )
    Client().post(
        reverse("subscribers:preferences", args=[tokens.preferences_token(b_claim)]),
        {"action": "unsubscribe_all"},
    )
    assert b.contact().subscriptions.get().status == SubscriptionStatus.UNSUBSCRIBED
    assert snapshot_of(a) == mine_before
    # A claim that pairs a contact with another newsletter leads nowhere.
    crossed = Claim(a.contact().pk, b.newsletter.pk)
    page = Client().get(
        reverse("subscribers:preferences", args=[tokens.preferences_token(crossed)])
    )
    assert page.status_code == 404


def test_a_campaign_never_reaches_another_newsletters_list(a, b):
    campaign = CampaignFactory(newsletter=a.newsletter)
    campaign.lists.set([a.news, b.news])  # only code could do this: forms and API refuse it
    own = SubscriptionFactory(
        mailing_list=a.news,
        subscriber__newsletter=a.newsletter,
        status=SubscriptionStatus.CONFIRMED,
    ).subscriber
    assert lifecycle.campaign_start(campaign=campaign) == 1
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [own.pk]
    MailingListFactory(newsletter=b.newsletter, slug="bonly")
    response = a.api.post(
        "/api/v1/campaigns/",
        {"name": "X", "subject": "X", "lists": ["news", "bonly"], "body": "x"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"lists": ["No such list in this newsletter: bonly."]}


def test_as_upload_cannot_be_mapped_from_bs_dashboard(a, b, tmp_path, settings):
    settings.IMPORT_DIR = str(tmp_path)
    upload = SimpleUploadedFile("people.csv", b"email\nx@example.org\n", content_type="text/csv")
    response = a.session.post(a.dashboard("import_upload", "news"), {"file": upload})
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    b_editor = MembershipFactory(newsletter=b.newsletter, role=Role.EDITOR).user
    client = Client()
    client.force_login(b_editor)
    page = client.get(reverse("dashboard:import_map", args=[b.newsletter.slug, "news", token]))
    assert page.status_code == 302  # "that upload is gone": B's folder has no such file
    assert ledger.verify_chain(b.contact()).valid
    assert Suppression.objects.count() == 0
