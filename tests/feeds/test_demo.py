"""``make run``'s demo follows its own release feed, a file beside the code, only where
file feeds are allowed from that folder."""

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from feeds import services
from feeds.models import Feed

pytestmark = pytest.mark.django_db


def test_the_demo_follows_its_release_feed_once_and_drafts_an_issue(settings):
    settings.FEEDS_FILE_ROOT = str(django_settings.BASE_DIR / "feeds" / "demo")
    call_command("seed_demo")
    call_command("seed_demo")
    feed = Feed.objects.get()
    assert feed.title == "Demo releases"
    assert [mailing_list.slug for mailing_list in feed.lists.all()] == ["releases"]
    issue = services.feed_run(feed_id=feed.pk, force=True)
    assert issue.subject == "Demo releases: Demo 2.0.1"
    assert issue.body.startswith("Hello {{ subscriber.name")
    assert issue.body.index("Demo 2.0.1") < issue.body.index("Demo 1.9.0")


def test_without_file_feeds_the_demo_says_so_and_follows_nothing(settings, capsys):
    settings.FEEDS_FILE_ROOT = ""
    call_command("seed_demo")
    assert "Not following the demo release feed: File addresses are not allowed" in (
        capsys.readouterr().out
    )
    assert not Feed.objects.exists()
