"""Compose stages: other apps change a campaign's message before it leaves without
delivery importing them; tracking is one, registered from its AppConfig."""

from dataclasses import dataclass, replace

import pytest

from campaigns.rendering.mergetags import Slot
from campaigns.services import campaign_render
from delivery import compose
from delivery.messages import Addressee, CampaignMessages
from tests.factories import CampaignFactory, NewsletterFactory
from tracking import rewriting
from tracking.services import campaign_tracking

pytestmark = pytest.mark.django_db

ADA = Addressee(41, 7, "ada@example.org", "Ada", {}, "Releases")


@dataclass(frozen=True)
class Stamped:
    rendered: object

    def values(self, *, delivery_id: int, opted_out: bool) -> dict[str, str]:
        return {"stamp": "" if opted_out else f"reader-{delivery_id}"}


def stamp(*, campaign, rendered, variant):
    """A stage that ends the HTML with a per-recipient slot, as tracking's pixel does."""
    html = rewriting.rewrite(
        rendered.html, link=lambda url: None, tail=["<i>", Slot("stamp"), "</i>"]
    )
    return Stamped(replace(rendered, html=html))


@pytest.fixture
def stamping(monkeypatch):
    monkeypatch.setattr(compose, "_stages", list(compose._stages))
    compose.register_compose_stage(stamp)
    compose.register_compose_stage(stamp)


def test_tracking_registers_its_stage_when_the_apps_are_ready():
    assert campaign_tracking in compose._stages


def test_a_registered_stage_changes_every_message_once_and_fills_its_slot(stamping):
    campaign = CampaignFactory(newsletter=NewsletterFactory(tracking_policy="off"))
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    assert compose._stages.count(stamp) == 1
    html = messages.build(ADA).alternatives[0][0]
    assert html.count("<i>reader-41</i>") == 1


def test_the_copy_of_a_reader_who_refuses_tracking_has_no_stage_in_it(stamping):
    campaign = CampaignFactory(newsletter=NewsletterFactory(tracking_policy="off"))
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    html = messages.build(replace(ADA, untracked=True)).alternatives[0][0]
    assert "<i>" not in html
