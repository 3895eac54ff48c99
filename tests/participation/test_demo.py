"""``make run``'s demo seeds one of each: a sent campaign with a consultation and answers,
an open call with contributions, referrals, a goal, and the transparency page on."""

import pytest
from django.core.management import call_command

from campaigns.selectors import public_archive
from newsletter.models import Newsletter
from participation.models import Answer, Referral, Submission


@pytest.mark.django_db
def test_the_demo_has_one_of_each_and_twice_changes_nothing(client):
    call_command("seed_demo")
    call_command("seed_demo")
    demo = Newsletter.objects.get(slug="demo")
    consultation = demo.consultations.get()
    assert [question.respondents for question in consultation.questions.all()] == [3, 3]
    assert Answer.objects.count() == 6
    assert Submission.objects.filter(call__newsletter=demo).count() == 3
    assert Referral.objects.filter(newsletter=demo, confirmed_at__isnull=False).count() == 2
    assert demo.goals.get().current == 1250

    (welcome,) = public_archive(demo)
    archived = client.get(welcome.get_public_url()).content.decode()
    assert "What should we write about?" in archived and "/answer/web/" in archived
    assert client.get("/n/demo/stats/").status_code == 200
    assert client.get("/n/demo/calls/showcase/").status_code == 200
    assert client.get("/n/demo/goals/sprint/").status_code == 200
