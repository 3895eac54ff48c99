"""Editions and conditional blocks, end to end through the sending engine and the outbox."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from campaigns import services as campaigns
from campaigns.models import EditionStatus
from delivery import lifecycle
from delivery.models import Delivery, OutboxMessage
from subscribers.models import Subscriber
from tests.delivery.test_engine import confirmed, send_all
from tests.delivery.test_web_version import SITE, web_link
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    return NewsletterFactory(slug="kernel", name="Kernel News", language="en")


@pytest.fixture
def releases(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")


@pytest.fixture
def campaign(newsletter, releases):
    campaign = CampaignFactory(
        newsletter=newsletter, subject="Kernel 7.0 is out", body="Hello {{ subscriber.name }}."
    )
    campaign.lists.set([releases])
    return campaign


def reader(newsletter, lists, email, language="", **attributes):
    person = confirmed(newsletter, lists, email, name=email.split("@")[0].title())
    Subscriber.objects.filter(pk=person.pk).update(language=language, attributes=attributes)
    return person


def french(campaign, status=EditionStatus.READY):
    return campaigns.edition_create(
        campaign=campaign,
        language="fr",
        subject="Kernel 7.0 est sorti",
        body="Bonjour {{ subscriber.name }}.",
        status=status,
    )


def mail_of(email):
    return OutboxMessage.objects.get(recipients=[email])


def test_a_french_reader_gets_the_french_edition_and_a_german_reader_the_default(
    newsletter, releases, campaign
):
    reader(newsletter, [releases], "amelie@example.org", language="fr")
    reader(newsletter, [releases], "jules@example.org", language="fr-CA")
    reader(newsletter, [releases], "hans@example.org", language="de")
    reader(newsletter, [releases], "ada@example.org")
    french(campaign)

    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    for email in ("amelie@example.org", "jules@example.org"):
        mail = mail_of(email)
        assert mail.parsed()["Subject"] == "Kernel 7.0 est sorti"
        assert "Bonjour" in mail.body("plain") and "Hello" not in mail.body("plain")
    for email in ("hans@example.org", "ada@example.org"):
        mail = mail_of(email)
        assert mail.parsed()["Subject"] == "Kernel 7.0 is out"
        assert "Hello" in mail.body("html") and "Bonjour" not in mail.body("html")
    editions = dict(Delivery.objects.values_list("subscriber__email", "edition"))
    assert editions == {
        "amelie@example.org": "fr",
        "jules@example.org": "fr",
        "hans@example.org": "en",
        "ada@example.org": "en",
    }


def test_a_pending_edition_with_readers_blocks_the_send_with_one_reason(
    newsletter, releases, campaign
):
    reader(newsletter, [releases], "amelie@example.org", language="fr")
    reader(newsletter, [releases], "ada@example.org")
    french(campaign, status=EditionStatus.PENDING)

    sendability = campaigns.campaign_sendability(campaign=campaign)
    assert not sendability.ok
    assert sendability.reasons == [
        "Translations still pending: French (1 reader). Mark them ready, or choose to send "
        "those readers the default edition."
    ]
    with pytest.raises(lifecycle.CampaignStateError, match="Translations still pending: French"):
        lifecycle.campaign_start(campaign=campaign)
    assert not Delivery.objects.exists()


def test_falling_back_sends_the_default_to_readers_of_a_pending_edition(
    newsletter, releases, campaign
):
    reader(newsletter, [releases], "amelie@example.org", language="fr")
    french(campaign, status=EditionStatus.PENDING)
    campaigns.campaign_update(campaign=campaign, edition_fallback=True)

    assert campaigns.campaign_sendability(campaign=campaign).ok
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    assert mail_of("amelie@example.org").parsed()["Subject"] == "Kernel 7.0 is out"
    assert Delivery.objects.get().edition == "en"


def test_a_pending_edition_nobody_reads_is_flagged_but_does_not_block(
    newsletter, releases, campaign
):
    reader(newsletter, [releases], "ada@example.org")
    campaigns.edition_create(
        campaign=campaign, language="de", subject="Kernel 7.0", body="Hallo.", status="pending"
    )
    (facts,) = campaigns.campaign_editions(campaign=campaign)
    assert facts.flagged and facts.readers == 0 and facts.name == "German"
    assert campaigns.campaign_sendability(campaign=campaign).ok


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", "The campaign itself is the English edition"),
        ("français", "Write a language code"),
        ("FR", "already has an edition in this language"),
    ],
)
def test_bad_edition_languages_are_refused_by_field(campaign, language, words):
    french(campaign)
    with pytest.raises(ValidationError) as error:
        campaigns.edition_create(campaign=campaign, language=language, subject="S", body="B")
    assert words in " ".join(error.value.message_dict["language"])
    assert campaign.editions.count() == 1


def test_an_edition_that_does_not_render_is_not_saved(campaign):
    with pytest.raises(ValidationError) as error:
        campaigns.edition_create(
            campaign=campaign, language="fr", subject="S", body="Bonjour {{ subscriber.pointure }}"
        )
    assert "pointure" in error.value.message_dict["body"][0]
    assert not campaign.editions.exists()


def test_conditional_blocks_reach_only_their_readers_with_one_render_per_combination(
    newsletter, releases, campaign, monkeypatch
):
    security = MailingListFactory(newsletter=newsletter, slug="security", name="Security")
    campaigns.campaign_update(
        campaign=campaign,
        body=(
            "Hello {{ subscriber.name }}.\n\n"
            "{% if list security %}\nPatch your servers today.\n{% endif %}\n\n"
            '{% if subscriber.attributes.plan == "pro" %}\nYour support line is open.\n'
            "{% endif %}\n"
        ),
    )
    for number in range(3):
        reader(newsletter, [releases, security], f"sec{number}@example.org")
    reader(newsletter, [releases], "pro@example.org", plan="pro")
    reader(newsletter, [releases], "plain@example.org", plan="free")
    french(campaign)
    reader(newsletter, [releases, security], "amelie@example.org", language="fr")

    renders = []
    real_render = campaigns.rendering.render
    monkeypatch.setattr(
        campaigns.rendering, "render", lambda source: renders.append(source) or real_render(source)
    )
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    for number in range(3):
        body = mail_of(f"sec{number}@example.org").body("plain")
        assert "Patch your servers" in body and "support line" not in body
    assert "support line" in mail_of("pro@example.org").body("plain")
    plain = mail_of("plain@example.org").body("plain")
    assert "Patch your servers" not in plain and "support line" not in plain
    # The French edition has no condition: one message for all its readers.
    assert "Bonjour" in mail_of("amelie@example.org").body("plain")
    # Variants rendered while sending: security readers once, the pro reader once (the
    # neutral one and the French edition come from their cached renders).
    assert sorted(sorted(source.shown) for source in renders if source.shown) == [
        ["attribute:plan=pro"],
        ["list:security"],
    ]


def test_a_readers_own_web_version_shows_their_edition_and_their_blocks(
    newsletter, releases, settings
):
    settings.SITE_URL = SITE
    security = MailingListFactory(newsletter=newsletter, slug="security", name="Security")
    campaign = CampaignFactory(newsletter=newsletter, public=False, body="Hello.")
    campaign.lists.set([releases])
    campaigns.edition_create(
        campaign=campaign,
        language="fr",
        subject="Correctif",
        body="Bonjour.\n\n{% if list security %}\nCorrectif urgent.\n{% endif %}\n",
        status=EditionStatus.READY,
    )
    reader(newsletter, [releases, security], "amelie@example.org", language="fr")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    page = Client().get(web_link("amelie@example.org").removeprefix(SITE)).content.decode()
    assert "Bonjour." in page and "Correctif urgent." in page and "Hello." not in page
