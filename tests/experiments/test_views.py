"""The dashboard: the editor's Experiment section, its page, the decision on the report."""

import pytest
from django.urls import reverse

from delivery import lifecycle
from experiments.models import Experiment, State
from tests.factories import MembershipFactory

from .conftest import audience, experiment_on, send_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, newsletter):
    membership = MembershipFactory(newsletter=newsletter, role="editor")
    client.force_login(membership.user)
    return client


def url(name, campaign):
    return reverse(f"dashboard:{name}", args=[campaign.newsletter.slug, campaign.pk])


def form(**fields):
    return {
        "metric": "opens",
        "sample_kind": "percent",
        "sample_size": "50",
        "wait_hours": "4",
        "decision": "automatic",
        **fields,
    }


def test_the_editor_sets_up_variants_from_the_campaign_editor(editor, newsletter):
    campaign = audience(newsletter, 6)
    page = editor.get(url("campaign_edit", campaign)).content.decode()
    assert "Set up an experiment" in page

    response = editor.post(
        url("experiment", campaign),
        form(variant_A_subject="Shorter", variant_B_body="A **new** body."),
    )
    assert response.status_code == 302
    page = editor.get(url("campaign_edit", campaign)).content.decode()
    assert "2 variants, the winner by human opens after 4 hours." in page
    assert "The sample is 50 % of the audience" in page


def test_bad_input_comes_back_next_to_its_field_and_saves_nothing(editor, newsletter):
    campaign = audience(newsletter, 6)
    response = editor.post(
        url("experiment", campaign),
        form(
            sample_kind="count", sample_size="7", variant_A_subject="One", variant_C_subject="Three"
        ),
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Variant B is empty: give it a subject, a body or both." in page
    assert "The sample (7 people) must be smaller than the audience (6 people)" in page
    assert not Experiment.objects.exists()


def test_the_report_shows_each_variant_and_the_editor_chooses_the_winner(editor, newsletter):
    campaign = audience(newsletter, 6)
    experiment_on(campaign, sample_size=2, decision="editor")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    page = editor.get(url("campaign_report", campaign)).content.decode()
    assert 'data-experiment="testing"' in page
    assert "Subject A" in page and "Subject B" in page
    assert "Nothing counted yet, so no variant leads" in page
    assert "Choose this winner now" in page

    response = editor.post(url("experiment_decide", campaign), {"winner": "B"})
    assert response.status_code == 302
    experiment = Experiment.objects.get()
    assert (experiment.state, experiment.winner) == (State.DECIDED, "B")
    page = editor.get(url("campaign_report", campaign)).content.decode()
    assert "Variant B went to the rest of the audience." in page
    assert "Choose this winner now" not in page
