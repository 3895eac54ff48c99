"""Open calls: anyone submits (sanitised, limited, before the deadline), editors moderate,
accepted items go into a draft credited, contributors who asked are told when published."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.rendering import personalize
from campaigns.services import campaign_render, sample_recipient
from delivery.models import OutboxMessage
from participation import emails, tokens
from participation.models import Call, Submission, SubmissionStatus
from participation.services import calls
from tests.factories import CampaignFactory, MembershipFactory, UserFactory

from .conftest import reader, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(newsletter):
    return calls.call_create(
        newsletter=newsletter,
        created_by=None,
        title="Showcase: what did you build with Demo 2.0?",
        slug="showcase",
        description="Tell us what you built; the best go in the next issue.",
    )


def submit(client, call, **overrides):
    data = {
        "title": "A plugin for maps",
        "link": "https://maps.example.org/",
        "text": "It draws **maps**.",
        "credit_name": "Ada L.",
        "email": "ada@example.org",
        "notify_on_publish": "on",
        "consent": "on",
    }
    data.update(overrides)
    return client.post(f"/n/demo/calls/{call.slug}/", data, REMOTE_ADDR="203.0.113.5")


def test_a_submission_is_recorded_sanitised_with_its_consent(client, newsletter, call):
    newsletter.record_consent_ip = True
    newsletter.save()
    page = client.get("/n/demo/calls/showcase/")
    assert page.status_code == 200 and call.consent_text in page.content.decode()
    response = submit(
        client,
        call,
        title="<b>A plugin</b> for maps",
        text="<script>alert(1)</script>It draws maps.\r\nFast.",
        HTTP_USER_AGENT="Firefox",
    )
    assert response.status_code == 200
    assert "Thank you for your contribution" in response.content.decode()
    submission = Submission.objects.get()
    assert (submission.title, submission.text) == ("A plugin for maps", "It draws maps.\nFast.")
    assert submission.status == SubmissionStatus.SUBMITTED
    assert submission.consent_wording == call.consent_text
    assert submission.consent_ip == "203.0.113.5"
    assert submission.notify_on_publish and submission.email == "ada@example.org"


def test_without_the_newsletter_s_consent_evidence_setting_no_ip_is_kept(client, call):
    submit(client, call)
    assert Submission.objects.get().consent_ip is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"text": "x" * 2001}, "text"),
        ({"title": ""}, "title"),
        ({"credit_name": ""}, "credit_name"),
        ({"link": "javascript:alert(1)"}, "link"),
        ({"email": "not an address"}, "email"),
        ({"email": "", "notify_on_publish": "on"}, "email"),
        ({"consent": ""}, "consent"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_records_nothing(client, call, overrides, field):
    response = submit(client, call, **overrides)
    assert response.status_code == 422
    assert re.search(rf'id="id_{field}_error"', response.content.decode()), field
    assert not Submission.objects.exists()


def test_after_the_deadline_a_submission_gets_a_clear_410(client, call):
    Call.objects.filter(pk=call.pk).update(closes_at=timezone.now() - timedelta(minutes=1))
    response = submit(client, call)
    assert response.status_code == 410
    assert "This call is closed" in response.content.decode()
    assert not Submission.objects.exists()


def test_bots_and_floods_are_kept_out(client, call, settings):
    settings.CALL_SUBMISSIONS_PER_IP_PER_HOUR = 3
    assert submit(client, call, website="https://spam.example").status_code == 200
    assert not Submission.objects.exists()  # the honeypot: a bot is told "thank you"
    submit(client, call)
    submit(client, call)
    response = submit(client, call)
    assert response.status_code == 429
    assert Submission.objects.count() == 2


def test_a_call_asking_for_proof_of_work_refuses_a_missing_one(client, call):
    call.require_proof_of_work = True
    call.save()
    assert (
        'data-pow-challenge="pow-challenge"'
        in client.get("/n/demo/calls/showcase/").content.decode()
    )
    response = submit(client, call)
    assert response.status_code == 422
    assert "The anti-spam check did not finish" in response.content.decode()
    assert not Submission.objects.exists()


def submission_in(call, **fields) -> Submission:
    return calls.submission_create(
        call=call,
        title=fields.pop("title", "A plugin for maps"),
        text=fields.pop("text", "It draws maps."),
        credit_name=fields.pop("credit_name", "Ada L."),
        consent=True,
        **fields,
    )


def test_moderation_moves_are_those_the_table_allows(call):
    editor = UserFactory()
    submission = submission_in(call, email="ada@example.org")
    with pytest.raises(ValidationError, match="Say what should change"):
        calls.submission_request_changes(submission=submission, user=editor, note=" ")
    calls.submission_request_changes(submission=submission, user=editor, note="Add a screenshot")
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.CHANGES_REQUESTED
    calls.submission_reject(submission=submission, user=editor, note="Not this time")
    calls.submission_accept(submission=submission, user=editor)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.ACCEPTED and submission.moderated_by == editor
    with pytest.raises(calls.MoveRefused):
        calls.submission_accept(submission=submission, user=editor)
    anonymous = submission_in(call)
    with pytest.raises(ValidationError, match="left no address"):
        calls.submission_request_changes(submission=anonymous, user=editor, note="More")


def test_asked_for_changes_the_contributor_edits_through_their_link_once(client, call):
    submission = submission_in(call, email="ada@example.org")
    calls.submission_request_changes(
        submission=submission, user=UserFactory(), note="Add a screenshot link."
    )
    assert emails.tell_contributor(submission_id=submission.pk, event="changes_requested")
    mail = OutboxMessage.objects.get(recipients=["ada@example.org"])
    assert "Add a screenshot link." in mail.body("plain")
    edit = re.search(r"https?://\S+/calls/showcase/edit/\S+/", mail.body("plain")).group(0)
    path = edit.split("news.example.org", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "Add a screenshot link." in page.content.decode()
    data = {
        "title": "A plugin for maps",
        "link": "https://maps.example.org/shot.png",
        "text": "It draws maps; see the screenshot.",
        "credit_name": "Ada L.",
        "consent": "on",
    }
    assert client.post(path, data).status_code == 200
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.SUBMITTED and submission.revision == 2
    assert submission.link == "https://maps.example.org/shot.png"
    again = client.post(path, data)
    assert again.status_code == 410 and "This link was used already" in again.content.decode()
    assert client.get(path.replace("/edit/", "/edit/x")).status_code == 400


def test_accepted_contributions_go_into_a_draft_credited_and_harmless(newsletter, call):
    editor = UserFactory()
    sneaky = submission_in(
        call,
        title="Maps {{ unsubscribe_url }}",
        text="# Not a heading\n\n[click](https://evil.example) {{ subscriber.email }}",
        credit_name="Grace *H*",
        link="https://maps.example.org/{{x}}",
    )
    plain = submission_in(call, title="Second one", credit_name="Linus")
    waiting = submission_in(call, title="Still waiting")
    for submission in (sneaky, plain):
        calls.submission_accept(submission=submission, user=editor)
    draft = CampaignFactory(newsletter=newsletter, body="Hello.")
    assert calls.submissions_insert(call=call, campaign=draft, user=editor) == 2
    draft.refresh_from_db()
    assert draft.body.startswith("Hello.\n\n---\n")
    assert "## Showcase: what did you build with Demo 2\\.0?" in draft.body
    assert "{{" not in draft.body.split("Hello.", 1)[1]
    message = personalize(campaign_render(campaign=draft), sample_recipient(newsletter=newsletter))
    assert "Contributed by Grace *H*" in message.text
    assert "Maps {{ unsubscribe_url }}" in message.html.replace("&#123;", "{").replace(
        "&#125;", "}"
    )
    assert "{{ subscriber.email }}" in message.html
    assert "reader@example.org" not in message.html  # no merge tag was read from them
    assert '<a href="https://evil.example"' not in message.html
    assert 'href="https://maps.example.org/%7B%7Bx%7D%7D"' in message.html
    assert not Submission.objects.filter(pk=waiting.pk, campaign__isnull=False).exists()
    with pytest.raises(ValidationError, match="No accepted contribution is waiting"):
        calls.submissions_insert(call=call, campaign=draft, user=editor)


def test_in_an_mjml_draft_they_go_in_a_section_of_their_own(newsletter, call):
    calls.submission_accept(submission=submission_in(call, title="A <b>map</b>"), user=None)
    draft = CampaignFactory(
        newsletter=newsletter,
        body_format="mjml",
        body="<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>",
    )
    calls.submissions_insert(call=call, campaign=draft, user=None)
    draft.refresh_from_db()
    assert campaign_render(campaign=draft).ok
    assert "<strong>A map</strong>" in draft.body


def test_when_the_campaign_is_sent_contributions_are_published_and_contributors_told(
    newsletter, news, call
):
    reader(newsletter, "reader@example.org")
    told = submission_in(call, email="ada@example.org", notify_on_publish=True)
    quiet = submission_in(call, title="Quiet one", email="bob@example.org")
    for submission in (told, quiet):
        calls.submission_accept(submission=submission, user=None)
    draft = CampaignFactory(newsletter=newsletter, body="Hello.", public=True)
    calls.submissions_insert(call=call, campaign=draft, user=None)
    with pytest.raises(ValidationError, match="in a draft"):
        calls.submission_reject(submission=quiet, user=None)

    send(draft, [news])
    told.refresh_from_db()
    quiet.refresh_from_db()
    assert told.status == quiet.status == SubmissionStatus.PUBLISHED
    assert emails.tell_contributor(submission_id=told.pk, event="published")
    assert not emails.tell_contributor(submission_id=told.pk, event="published")  # once
    assert not emails.tell_contributor(submission_id=quiet.pk, event="published")
    notice = OutboxMessage.objects.get(recipients=["ada@example.org"])
    assert "credited to Ada L." in notice.body("plain")
    assert f"https://news.example.org/n/demo/archive/{draft.slug}/" in notice.body("plain")


def test_the_moderation_page_lets_editors_act_and_viewers_read(client, newsletter, call):
    submission = submission_in(call, email="ada@example.org")
    viewer = MembershipFactory(newsletter=newsletter, role="viewer").user
    client.force_login(viewer)
    page = client.get(f"/dashboard/n/demo/participation/calls/{call.pk}/").content.decode()
    assert "A plugin for maps" in page and "Ask for changes" not in page
    url = f"/dashboard/n/demo/participation/calls/{call.pk}/submissions/{submission.pk}/moderate/"
    assert client.post(url, {"action": "accept"}).status_code == 403
    client.force_login(MembershipFactory(newsletter=newsletter, role="editor").user)
    response = client.post(url, {"action": "accept"})
    assert response.status_code == 302 and response["Location"].endswith(
        f"/calls/{call.pk}/#submission-{submission.pk}"
    )
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.ACCEPTED


def test_a_stale_or_forged_edit_link_changes_nothing(client, call):
    submission = submission_in(call, email="ada@example.org")
    forged = tokens.submission_token(submission.pk, submission.revision)
    response = client.get(f"/n/demo/calls/showcase/edit/{forged}/")
    assert response.status_code == 410  # changes were never asked for
    assert Submission.objects.get().revision == 1


def test_a_contributor_can_be_forgotten_keeping_what_was_published(client, newsletter, call):
    newsletter.record_consent_ip = True
    newsletter.save()
    submit(client, call)
    submission = Submission.objects.get()
    assert submission.consent_ip and submission.email
    client.force_login(MembershipFactory(newsletter=newsletter, role="editor").user)
    client.post(
        f"/dashboard/n/demo/participation/calls/{call.pk}/submissions/{submission.pk}/moderate/",
        {"action": "forget"},
    )
    submission.refresh_from_db()
    assert (submission.email, submission.consent_ip, submission.notify_on_publish) == (
        "",
        None,
        False,
    )
    assert (submission.title, submission.credit_name) == ("A plugin for maps", "Ada L.")


def test_an_expired_edit_link_says_so_and_changes_nothing(client, call, monkeypatch):
    from participation import tokens as participation_tokens

    submission = submission_in(call, email="ada@example.org")
    calls.submission_request_changes(submission=submission, user=None, note="Shorter, please.")
    link = tokens.submission_token(submission.pk, 1)
    monkeypatch.setattr(participation_tokens, "SUBMISSION_MAX_AGE", timedelta(seconds=-1))
    data = {"title": "New", "text": "New text", "credit_name": "Ada", "consent": "on"}
    response = client.post(f"/n/demo/calls/showcase/edit/{link}/", data)
    assert response.status_code == 410 and "This link has expired" in response.content.decode()
    submission.refresh_from_db()
    assert (submission.title, submission.revision) == ("A plugin for maps", 1)
