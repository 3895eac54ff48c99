"""Consultations: answered from the mail through each reader's signed link, one answer per
person per question, nothing tied to a person under the aggregate policy."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from campaigns.services import archive_html, campaign_render
from participation import tokens
from participation.models import Answer, Choice, Consultation, Question
from participation.services import consultations
from participation.services.consultations import QuestionSpec
from subscribers import personal_data
from subscribers.models import ConsentSource
from subscribers.tokens import Claim

from .conftest import campaign_with, links_in, mail_of, reader, send

pytestmark = pytest.mark.django_db


def make_consultation(newsletter, **fields) -> Consultation:
    questions = fields.pop(
        "questions",
        [
            QuestionSpec("single", "Which feature next?", ["Plugins", "Themes", "Speed"]),
            QuestionSpec("text", "Anything else?"),
        ],
    )
    return consultations.consultation_create(
        newsletter=newsletter,
        created_by=None,
        title=fields.pop("title", "Roadmap 2027"),
        slug=fields.pop("slug", "roadmap"),
        questions=questions,
        **fields,
    )


def first_question(consultation) -> Question:
    return consultation.questions.get(position=0)


def choice(question, label) -> Choice:
    return question.choices.get(label=label)


def answer_url(consultation, subscriber, question, picked=None) -> str:
    token = tokens.answer_token(consultation.pk, subscriber.pk)
    url = f"/n/{consultation.newsletter.slug}/consultations/{consultation.slug}/answer/{token}/"
    url += f"?q={question.pk}"
    return url + (f"&c={picked.pk}" if picked is not None else "")


# Creating


def test_a_consultation_needs_a_title_a_question_and_real_options(newsletter):
    with pytest.raises(ValidationError) as error:
        make_consultation(newsletter, questions=[QuestionSpec("single", "Pick", ["Only one"])])
    assert "options" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        make_consultation(newsletter, questions=[QuestionSpec("single", "Pick", ["A", "a"])])
    assert error.value.message_dict["options"] == ["Two options are the same."]
    with pytest.raises(ValidationError) as error:
        make_consultation(newsletter, title="  ")
    assert "title" in error.value.message_dict
    scale = make_consultation(newsletter, slug="", questions=[QuestionSpec("scale", "How good?")])
    assert list(first_question(scale).choices.values_list("label", flat=True)) == list("12345")
    assert scale.slug == "roadmap-2027"
    with pytest.raises(ValidationError) as error:
        make_consultation(newsletter, slug="roadmap-2027")
    assert "slug" in error.value.message_dict
    assert Consultation.objects.count() == 1


def test_a_question_people_answered_cannot_be_removed(newsletter, news):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    consultations.answer_record(
        consultation=consultation,
        subscriber_id=ada.pk,
        question=question,
        choices=[choice(question, "Speed").pk],
    )
    with pytest.raises(ValidationError, match="People answered"):
        consultations.question_remove(question=question)
    consultations.question_remove(question=consultation.questions.get(position=1))
    assert consultation.questions.count() == 1
    alone = make_consultation(newsletter, slug="alone", questions=[QuestionSpec("scale", "Hm?")])
    with pytest.raises(ValidationError, match="at least one question"):
        consultations.question_remove(question=first_question(alone))


# The block in the mail


def test_each_reader_s_mail_carries_their_own_answer_links_and_the_archive_none(newsletter, news):
    consultation = make_consultation(newsletter, public_results=True)
    ada = reader(newsletter, "ada@example.org")
    reader(newsletter, "grace@example.org")
    campaign = campaign_with(
        newsletter, "Tell us:\n\n{{ consultation.roadmap }}\n\nThanks!", public=True
    )
    send(campaign, [news])

    question = first_question(consultation)
    ada_links = links_in(mail_of(campaign, "ada@example.org").body("html"), "/answer/")
    grace_links = links_in(mail_of(campaign, "grace@example.org").body("html"), "/answer/")
    assert len(ada_links) == 4  # three options and the text question
    assert ada_links[0] == "https://news.example.org" + answer_url(
        consultation, ada, question, choice(question, "Plugins")
    )
    assert grace_links[0].split("/answer/")[1] != ada_links[0].split("/answer/")[1]
    text = mail_of(campaign, "ada@example.org").body("plain")
    assert tokens.answer_token(consultation.pk, ada.pk) in text

    # The web version carries nobody's token: its links lead to the public page.
    web = archive_html(campaign=campaign)
    assert "/answer/web/?q=" in web.replace("&amp;", "&")
    assert tokens.answer_token(consultation.pk, ada.pk) not in web


def test_a_block_for_a_consultation_that_does_not_exist_stops_the_campaign(newsletter):
    campaign = campaign_with(newsletter, "Hi\n\n{{ consultation.nope }}\n")
    result = campaign_render(campaign=campaign)
    assert [str(problem) for problem in result.errors] == [
        "line 3: there is no consultation “nope” in this newsletter."
    ]


# Answering through the link


def test_a_scanner_s_get_records_nothing_and_the_button_records_once(client, newsletter, news):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    url = answer_url(consultation, ada, question, choice(question, "Speed"))

    for _ in range(3):  # a link scanner, a preview, the reader opening it
        page = client.get(url, HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda Sentinel)")
        assert page.status_code == 200
    html = page.content.decode()
    checked = re.findall(r'<input type="radio" name="answer" value="(\d+)"[^>]*\bchecked', html)
    assert checked == [str(choice(question, "Speed").pk)]
    assert "Confirm my answer" in html
    assert not Answer.objects.exists()
    question.refresh_from_db()
    assert question.respondents == 0

    speed = choice(question, "Speed")
    done = client.post(url, {"q": question.pk, "answer": speed.pk, "comment": "Faster startup!"})
    assert done.status_code == 200 and "Thank you for answering" in done.content.decode()
    again = client.post(url, {"q": question.pk, "answer": speed.pk, "comment": "Faster startup!"})
    assert "Your answer is unchanged" in again.content.decode()
    assert Answer.objects.count() == 1
    question.refresh_from_db()
    speed.refresh_from_db()
    assert (question.respondents, speed.answers) == (1, 1)


def test_the_same_link_changes_the_answer_and_the_counts_follow(client, newsletter, news):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    url = answer_url(consultation, ada, question)
    plugins, speed = choice(question, "Plugins"), choice(question, "Speed")
    client.post(url, {"q": question.pk, "answer": plugins.pk})
    page = client.get(url).content.decode()
    assert "You answered this question already" in page and "Change my answer" in page
    changed = client.post(url, {"q": question.pk, "answer": speed.pk})
    assert "Your answer is changed" in changed.content.decode()
    plugins.refresh_from_db()
    speed.refresh_from_db()
    question.refresh_from_db()
    assert (plugins.answers, speed.answers, question.respondents) == (0, 1, 1)
    assert Answer.objects.get().choices == [speed.pk]


def test_multiple_choice_and_free_text_answers(newsletter, news):
    consultation = make_consultation(
        newsletter,
        questions=[
            QuestionSpec("multiple", "Which platforms?", ["Linux", "macOS", "Windows"]),
            QuestionSpec("text", "Why?"),
        ],
    )
    platforms, why = consultation.questions.all()
    ada = reader(newsletter, "ada@example.org")
    linux, mac = choice(platforms, "Linux"), choice(platforms, "macOS")
    consultations.answer_record(
        consultation=consultation,
        subscriber_id=ada.pk,
        question=platforms,
        choices=[mac.pk, linux.pk],
    )
    assert Answer.objects.get(question=platforms).choices == [linux.pk, mac.pk]
    consultations.answer_record(
        consultation=consultation, subscriber_id=ada.pk, question=why, choices=[], text="<b>x</b> y"
    )
    assert Answer.objects.get(question=why).text == "x y"
    with pytest.raises(ValidationError) as error:
        consultations.answer_record(
            consultation=consultation, subscriber_id=ada.pk, question=why, choices=[], text="  "
        )
    assert "text" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        consultations.answer_record(
            consultation=consultation, subscriber_id=ada.pk, question=platforms, choices=[]
        )
    assert "choice" in error.value.message_dict


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("tampered", 400, "This link does not work"),
        ("other consultation", 404, "This link is for another consultation"),
        ("no such question", 404, "There is no such question"),
        ("no such option", 422, "This option is not one of the question"),
        ("another newsletter's person", 404, "belongs to nobody who receives this newsletter"),
    ],
)
def test_bad_answers_get_a_clear_page_and_record_nothing(
    client, newsletter, news, case, status, says
):
    consultation = make_consultation(newsletter)
    other = make_consultation(newsletter, slug="other")
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    speed = choice(question, "Speed")
    url = answer_url(consultation, ada, question)
    data = {"q": question.pk, "answer": speed.pk}
    if case == "tampered":
        url = url.replace(
            tokens.answer_token(consultation.pk, ada.pk),
            tokens.answer_token(consultation.pk, ada.pk)[:-2] + "xx",
        )
    elif case == "other consultation":
        url = url.replace("/roadmap/", "/other/").replace(
            f"q={question.pk}", f"q={first_question(other).pk}"
        )
        data["q"] = first_question(other).pk
    elif case == "no such question":
        url = url.replace(f"q={question.pk}", "q=999999")
        data["q"] = 999999
    elif case == "no such option":
        data["answer"] = choice(first_question(other), "Speed").pk
    else:
        from tests.factories import MailingListFactory

        stranger = reader(MailingListFactory().newsletter, "eve@example.org")
        url = answer_url(consultation, stranger, question)
    response = client.post(url, data)
    assert response.status_code == status
    assert says in response.content.decode()
    assert not Answer.objects.exists()


def test_after_closing_the_link_says_so_and_records_nothing(client, newsletter, news):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    Consultation.objects.filter(pk=consultation.pk).update(
        closes_at=timezone.now() - timedelta(minutes=1)
    )
    url = answer_url(consultation, ada, question)
    assert client.get(url).status_code == 410
    response = client.post(url, {"q": question.pk, "answer": choice(question, "Speed").pk})
    assert response.status_code == 410
    assert "This consultation is closed" in response.content.decode()
    assert not Answer.objects.exists()


def test_the_link_of_a_preview_or_the_archive_leads_to_the_public_page(client, newsletter):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    speed = choice(question, "Speed")
    response = client.get(f"/n/demo/consultations/roadmap/answer/web/?q={question.pk}&c={speed.pk}")
    assert response.status_code == 302
    assert response["Location"].startswith("/n/demo/consultations/roadmap/?c=")


# Who an answer belongs to


def rows_about(subscriber) -> dict[str, int]:
    """Every row of every table that names the subscriber by a foreign key or an id."""
    found = {}
    for model in apps.get_models():
        for field in model._meta.fields:
            related = isinstance(field, models.ForeignKey) and field.related_model is type(
                subscriber
            )
            named = field.name in ("subscriber_id", "delivery_id") or related
            if not named:
                continue
            count = model.objects.filter(**{field.attname: subscriber.pk}).count()
            if count:
                found[f"{model._meta.label}.{field.name}"] = count
    return found


def test_under_the_aggregate_policy_no_row_ties_an_answer_to_its_person(client, newsletter, news):
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org", name="Ada Lovelace")
    before = rows_about(ada)
    url = answer_url(consultation, ada, question)
    client.post(url, {"q": question.pk, "answer": choice(question, "Speed").pk, "comment": "Go"})
    assert Answer.objects.count() == 1

    assert rows_about(ada) == before  # no table gained a row naming her
    answer = Answer.objects.values().get()
    assert answer["subscriber_id"] is None
    assert answer["respondent"] == tokens.respondent(question.pk, ada.pk)
    plain = hashlib.sha256(f"{question.pk}.{ada.pk}".encode()).hexdigest()
    assert answer["respondent"] != plain  # keyed: the ids alone do not give it
    assert answer["answered_at"].minute == answer["answered_at"].second == 0
    for model in apps.get_app_config("participation").get_models():
        dump = str(list(model.objects.values()))
        assert "ada@example.org" not in dump and "Ada Lovelace" not in dump


def test_under_the_individual_policy_the_answer_is_on_the_person_s_record(client, newsletter, news):
    newsletter.tracking_policy = "individual"
    newsletter.save()
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    grace = reader(newsletter, "grace@example.org")
    grace.tracking_opt_out = True
    grace.save()
    for person in (ada, grace):
        client.post(
            answer_url(consultation, person, question),
            {"q": question.pk, "answer": choice(question, "Speed").pk, "comment": "Please"},
        )
    assert Answer.objects.get(subscriber=ada).comment == "Please"
    assert Answer.objects.filter(subscriber__isnull=True).count() == 1  # Grace opted out

    exported = personal_data.export_person(ada)["newsletters"][0]["participation"][
        "consultation_answers"
    ]
    assert exported == [
        {
            "newsletter": "Demo News",
            "consultation": "Roadmap 2027",
            "question": "Which feature next?",
            "answer": "Speed",
            "comment": "Please",
            "answered_at": exported[0]["answered_at"],
            "changed_at": None,
        }
    ]
    assert (
        personal_data.export_person(grace)["newsletters"][0]["participation"][
            "consultation_answers"
        ]
        == []
    )

    personal_data.erase(claim=Claim(ada.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    assert not Answer.objects.filter(subscriber=ada).exists()
    assert Answer.objects.filter(comment="Please").count() == 1  # Grace's
    question.refresh_from_db()
    assert question.respondents == 2  # both still counted


def test_the_subscriber_page_shows_answers_kept_with_the_person(client, newsletter, news):
    from tests.factories import MembershipFactory

    newsletter.tracking_policy = "individual"
    newsletter.save()
    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    ada = reader(newsletter, "ada@example.org")
    consultations.answer_record(
        consultation=consultation,
        subscriber_id=ada.pk,
        question=question,
        choices=[choice(question, "Themes").pk],
    )
    client.force_login(MembershipFactory(newsletter=newsletter, role="viewer").user)
    page = client.get(f"/dashboard/n/demo/subscribers/{ada.pk}/").content.decode()
    assert "Consultation answers" in page and "Which feature next?" in page and "Themes" in page


# Results


def answer_as_many(consultation, question, counts: dict[str, int], newsletter) -> None:
    number = 0
    for label, count in counts.items():
        for _ in range(count):
            number += 1
            person = reader(newsletter, f"person{number}@example.org")
            consultations.answer_record(
                consultation=consultation,
                subscriber_id=person.pk,
                question=question,
                choices=[choice(question, label).pk],
                comment=f"comment {number}" if number == 1 else "",
            )


def test_public_results_hide_every_count_under_five(client, newsletter, news):
    consultation = make_consultation(newsletter, public_results=True)
    question = first_question(consultation)
    answer_as_many(consultation, question, {"Plugins": 6, "Themes": 2, "Speed": 0}, newsletter)
    page = client.get("/n/demo/consultations/roadmap/").content.decode()
    assert "8 people answered." in page
    assert "<span data-count>6</span> (75.0 %)" in page
    assert page.count("fewer than 5") == 2  # Themes (2) and Speed (0)
    assert "comment 1" not in page  # comments are for the editors
    # The text question: nobody answered it, so nothing is shown.
    assert "Results appear once at least 5 people answered." in page


def test_editors_see_counts_shares_comments_and_a_csv(client, newsletter, news):
    from tests.factories import MembershipFactory

    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    answer_as_many(consultation, question, {"Plugins": 1, "Speed": 2}, newsletter)
    client.force_login(MembershipFactory(newsletter=newsletter, role="viewer").user)
    page = client.get(f"/dashboard/n/demo/participation/consultations/{consultation.pk}/")
    html = page.content.decode()
    assert "3 people answered." in html and "comment 1" in html
    csv = client.get(
        f"/dashboard/n/demo/participation/consultations/{consultation.pk}/results.csv"
    ).content.decode()
    assert "Which feature next?,single,3,Plugins,1,33.3" in csv
    assert "Which feature next?,comment,comment 1" in csv


def test_the_campaign_report_shows_the_results_of_its_consultation(client, newsletter, news):
    from tests.factories import MembershipFactory

    consultation = make_consultation(newsletter)
    question = first_question(consultation)
    campaign = campaign_with(newsletter, "{{ consultation.roadmap }}\n")
    answer_as_many(consultation, question, {"Speed": 2}, newsletter)
    client.force_login(MembershipFactory(newsletter=newsletter, role="viewer").user)
    html = client.get(f"/dashboard/n/demo/campaigns/{campaign.pk}/report/").content.decode()
    assert "Consultation: Roadmap 2027" in html
    assert (
        '<tr data-choice="Speed"><th scope="row">Speed</th><td class="number" data-count>2' in html
    )


def test_a_subscriber_can_ask_for_their_own_link_and_nobody_learns_who_subscribes(
    client, newsletter, news, monkeypatch
):
    from participation import emails
    from participation import tasks as participation_tasks
    from tests.factories import MailingListFactory

    queued = []
    monkeypatch.setattr(
        participation_tasks.send_answer_link, "delay_on_commit", lambda *args: queued.append(args)
    )
    consultation = make_consultation(newsletter)
    ada = reader(newsletter, "ada@example.org")
    reader(MailingListFactory().newsletter, "eve@example.org")  # another newsletter's reader
    url = "/n/demo/consultations/roadmap/my-link/"
    answers = [
        client.post(url, {"email": email}).content.decode()
        for email in ("ada@example.org", "eve@example.org", "nobody@example.org")
    ]
    assert all("a mail with its own link is on its way" in answer for answer in answers)
    assert queued == [(consultation.pk, ada.pk)]
    assert emails.send_answer_link(consultation_id=consultation.pk, subscriber_id=ada.pk)
    from delivery.models import OutboxMessage

    mail = OutboxMessage.objects.get(recipients=["ada@example.org"])
    assert tokens.answer_token(consultation.pk, ada.pk) in mail.body("plain")
    assert client.post(url, {"email": "not an address"}).status_code == 422
