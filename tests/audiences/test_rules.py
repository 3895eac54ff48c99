"""Every operator of the segment compiler against real PostgreSQL, its errors, and its
refusal to let a rule's text become SQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from audiences.rules import MAX_CONDITIONS, compile_rules, matching
from delivery.models import Delivery
from newsletter.models import TrackingPolicy
from subscribers import services
from subscribers.fields import RESERVED_KEYS
from subscribers.models import ConsentSource, Subscriber, SubscriptionStatus
from tests.factories import (
    CampaignFactory,
    FieldDefinitionFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriberFactory,
    SubscriptionFactory,
)
from tracking.models import Engagement

pytestmark = pytest.mark.django_db
PICKED = (
    "SELECT s.email FROM subscribers_subscriber s"
    " WHERE s.newsletter_id = %(newsletter)s AND ({rules})"
)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def picked(newsletter, rules, now=NOW) -> set[str]:
    """The addresses the rules pick, through the compiled SQL alone."""
    compiled = compile_rules(rules, newsletter=newsletter, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            PICKED.format(rules=compiled.sql), {**compiled.params, "newsletter": newsletter.pk}
        )
        return {email for (email,) in cursor}


def cond(field, op, value=None) -> dict:
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return {"all": [node]}


@pytest.fixture
def newsletter():
    return NewsletterFactory(tracking_policy=TrackingPolicy.INDIVIDUAL)


@pytest.fixture
def people(newsletter):
    """Four contacts with typed values (as the write paths normalise them)."""
    for key, type_, choices in [
        ("sdk", "choice", ["python", "rust", "go"]),
        ("role", "text", []),
        ("commits", "number", []),
        ("first_commit", "date", []),
        ("sponsor", "yes_no", []),
    ]:
        FieldDefinitionFactory(newsletter=newsletter, key=key, type=type_, choices=choices)
    values = {
        "ada": {"sdk": "python", "role": "Core maintainer", "commits": 120,
                "first_commit": "2019-03-01", "sponsor": True},
        "bob": {"sdk": "rust", "role": "docs_writer 100%", "commits": 3.5,
                "first_commit": "2026-06-10", "sponsor": False},
        "cy": {"sdk": "go", "commits": 40},
        "dee": {"free": "not a field"},
    }  # fmt: skip
    for name, attributes in values.items():
        SubscriberFactory(newsletter=newsletter, email=f"{name}@example.org", attributes=attributes)
    return newsletter


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (cond("sdk", "eq", "python"), {"ada"}),
        (cond("sdk", "eq", "Python"), {"ada"}),  # the value is normalised like a write
        (cond("sdk", "neq", "python"), {"bob", "cy", "dee"}),
        (cond("sdk", "in", ["rust", "go"]), {"bob", "cy"}),
        (cond("sdk", "is_set"), {"ada", "bob", "cy"}),
        (cond("sdk", "is_not_set"), {"dee"}),
        (cond("role", "eq", "Core maintainer"), {"ada"}),
        (cond("role", "neq", "Core maintainer"), {"bob", "cy", "dee"}),
        (cond("role", "contains", "MAINTAIN"), {"ada"}),
        (cond("role", "contains", "100%"), {"bob"}),  # % is a literal, not a wildcard
        (cond("role", "contains", "_"), {"bob"}),
        (cond("role", "starts_with", "docs"), {"bob"}),
        (cond("role", "starts_with", "maintainer"), set()),
        (cond("commits", "eq", 40), {"cy"}),
        (cond("commits", "eq", "40"), {"cy"}),
        (cond("commits", "neq", 40), {"ada", "bob", "dee"}),
        (cond("commits", "lt", 40), {"bob"}),
        (cond("commits", "lte", 40), {"bob", "cy"}),
        (cond("commits", "gt", 40), {"ada"}),
        (cond("commits", "gte", 3.5), {"ada", "bob", "cy"}),
        (cond("first_commit", "on", "2019-03-01"), {"ada"}),
        (cond("first_commit", "before", "2026-01-01"), {"ada"}),
        (cond("first_commit", "after", "2019-03-01"), {"bob"}),
        (cond("first_commit", "in_last_days", 7), {"bob"}),
        (cond("first_commit", "is_not_set"), {"cy", "dee"}),
        (cond("sponsor", "is_true"), {"ada"}),
        (cond("sponsor", "is_false"), {"bob"}),
        (cond("sponsor", "is_set"), {"ada", "bob"}),
    ],
)
def test_each_operator_of_each_field_type(people, rule, expected):
    assert picked(people, rule) == {f"{name}@example.org" for name in expected}


def test_groups_and_negation(people):
    python_or_rust = {"any": [cond("sdk", "eq", "python"), cond("sdk", "eq", "rust")]}
    assert picked(people, python_or_rust) == {"ada@example.org", "bob@example.org"}
    both = {"all": [python_or_rust, {"not": cond("sponsor", "is_true")}]}
    assert picked(people, both) == {"bob@example.org"}
    assert len(picked(people, {"all": []})) == 4  # everyone
    assert picked(people, {"any": []}) == set()  # no one


@pytest.fixture
def lists(newsletter):
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    security = MailingListFactory(newsletter=newsletter, slug="security")
    for name, mailing_list, status in [
        ("ada", releases, SubscriptionStatus.CONFIRMED),
        ("bob", releases, SubscriptionStatus.PENDING),
        ("cy", releases, SubscriptionStatus.UNSUBSCRIBED),
        ("cy", security, SubscriptionStatus.CONFIRMED),
    ]:
        subscriber, _ = Subscriber.objects.get_or_create(
            newsletter=newsletter, email=f"{name}@example.org"
        )
        SubscriptionFactory(
            mailing_list=mailing_list,
            subscriber=subscriber,
            status=status,
            confirmed_at=NOW - timedelta(days=3) if name == "ada" else None,
        )
    Subscriber.objects.get_or_create(newsletter=newsletter, email="dee@example.org")
    return newsletter


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (cond("list", "member", "releases"), {"ada", "bob", "cy"}),
        (cond("list", "confirmed", "releases"), {"ada"}),
        (cond("list", "pending", "releases"), {"bob"}),
        (cond("list", "unsubscribed", "releases"), {"cy"}),
        ({"not": cond("list", "member", "releases")}, {"dee"}),
        (cond("confirmed_at", "in_last_days", 7), {"ada"}),
        (cond("confirmed_at", "more_than_days_ago", 7), set()),
        (cond("confirmed_at", "on", "2026-06-12"), {"ada"}),
    ],
)
def test_list_membership_and_its_status(lists, rule, expected):
    assert picked(lists, rule) == {f"{name}@example.org" for name in expected}


def test_subscribed_date_language_and_consent_source(newsletter):
    mailing_list = MailingListFactory(newsletter=newsletter, opt_in="single")
    for email, source, language in [
        ("form@example.org", ConsentSource.FORM, "fr"),
        ("api@example.org", ConsentSource.API, "en"),
    ]:
        services.subscribe(
            newsletter=newsletter,
            email=email,
            lists=[mailing_list],
            source=source,
            wording="yes",
            language=language,
        )
    old = SubscriberFactory(newsletter=newsletter, email="old@example.org", language="FR")
    Subscriber.objects.filter(pk=old.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    assert picked(newsletter, cond("consent_source", "eq", "form"), now) == {"form@example.org"}
    assert picked(newsletter, cond("consent_source", "neq", "form"), now) == {
        "api@example.org",
        "old@example.org",
    }
    assert picked(newsletter, cond("language", "eq", "fr"), now) == {
        "form@example.org",
        "old@example.org",
    }
    assert picked(newsletter, cond("language", "neq", "fr"), now) == {"api@example.org"}
    assert picked(newsletter, cond("language", "in", ["en", "de"]), now) == {"api@example.org"}
    assert picked(newsletter, cond("subscribed_at", "before", "2021-01-01"), now) == {
        "old@example.org"
    }
    assert picked(newsletter, cond("subscribed_at", "on", "2020-01-01"), now) == {"old@example.org"}
    assert picked(newsletter, cond("subscribed_at", "after", "2020-01-01"), now) == {
        "form@example.org",
        "api@example.org",
    }
    assert picked(newsletter, cond("subscribed_at", "in_last_days", 1), now) == {
        "form@example.org",
        "api@example.org",
    }


def test_bounce_history(newsletter):
    campaign, other = CampaignFactory(newsletter=newsletter), CampaignFactory(newsletter=newsletter)
    often = SubscriberFactory(newsletter=newsletter, email="often@example.org")
    once = SubscriberFactory(newsletter=newsletter, email="once@example.org")
    SubscriberFactory(newsletter=newsletter, email="never@example.org")
    for subscriber, sent, bounced_at in [
        (often, campaign, NOW - timedelta(days=40)),
        (often, other, NOW - timedelta(days=2)),
        (once, campaign, NOW - timedelta(days=40)),
        (once, other, None),
    ]:
        Delivery.objects.create(
            campaign=sent, subscriber=subscriber, status="sent", bounced_at=bounced_at
        )
    assert picked(newsletter, cond("bounced", "ever")) == {"often@example.org", "once@example.org"}
    assert picked(newsletter, cond("bounced", "never")) == {"never@example.org"}
    assert picked(newsletter, cond("bounced", "in_last_days", 7)) == {"often@example.org"}
    assert picked(newsletter, cond("bounced", "at_least", 2)) == {"often@example.org"}


@pytest.fixture
def engaged(newsletter):
    """opener opened the campaign, clicker clicked it, shy opened but opted out since."""
    campaign = CampaignFactory(newsletter=newsletter)
    for number, (email, opened, clicked, opt_out) in enumerate(
        [
            ("opener@example.org", NOW - timedelta(days=1), None, False),
            ("clicker@example.org", None, NOW - timedelta(days=20), False),
            ("shy@example.org", NOW - timedelta(days=1), None, True),
            ("idle@example.org", None, None, False),
        ]
    ):
        subscriber = SubscriberFactory(newsletter=newsletter, email=email, tracking_opt_out=opt_out)
        Engagement.objects.create(
            delivery_id=number + 1,
            campaign=campaign,
            subscriber=subscriber,
            first_human_open_at=opened,
            first_human_click_at=clicked,
        )
    return campaign


def test_engagement_only_for_people_who_did_not_opt_out(newsletter, engaged):
    opened = cond("opened", "campaign", engaged.pk)
    assert picked(newsletter, opened) == {"opener@example.org", "clicker@example.org"}
    assert picked(newsletter, cond("clicked", "campaign", engaged.pk)) == {"clicker@example.org"}
    assert picked(newsletter, cond("opened", "in_last_days", 7)) == {"opener@example.org"}
    # Unknown for the person who opted out: neither "opened" nor "did not open" picks them…
    assert picked(newsletter, {"not": opened}) == {"idle@example.org"}
    # …but another condition still can.
    either = {"any": [opened, {"not": cond("language", "eq", "zz")}]}
    assert "shy@example.org" in picked(newsletter, either)


def test_engagement_refused_unless_tracking_is_individual(engaged):
    newsletter = engaged.newsletter
    newsletter.tracking_policy = TrackingPolicy.AGGREGATE
    newsletter.save()
    with pytest.raises(ValidationError) as error:
        compile_rules(cond("opened", "campaign", engaged.pk), newsletter=newsletter)
    assert "individual" in error.value.message_dict["rules.all[0].value"][0]


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        (cond("sdk_version", "eq", "1"), "rules.all[0].field", 'no field "sdk_version"'),
        (cond("sdk", "gt", "python"), "rules.all[0].op", '"gt" does not fit sdk'),
        (cond("first_commit", "before", "last spring"), "rules.all[0].value", "not a date"),
        (cond("commits", "gt", "many"), "rules.all[0].value", "not a number"),
        (cond("sdk", "eq", "cobol"), "rules.all[0].value", "not one of python, rust, go"),
        (cond("list", "member", "nope"), "rules.all[0].value", 'no list "nope"'),
        (cond("bounced", "in_last_days", -1), "rules.all[0].value", "whole number of days"),
        (cond("sdk", "eq", " "), "rules.all[0].value", "Expected a value"),
        (cond("commits", "gt"), "rules.all[0].value", "Expected a value"),
        (cond("opened", "campaign", 999999), "rules.all[0].value", "no campaign 999999"),
        ({"all": [{"field": "sdk", "op": "eq", "value": "go"}, "x"]}, "rules.all[1]", "object"),
        ({"every": []}, "rules", "exactly one of"),
        ({"any": {"field": "sdk"}}, "rules.any", "list"),
        ({"not": {"not": {"all": [{"field": 3}]}}}, "rules.not.not.all[0].field", "name of"),
    ],
)
def test_bad_rules_name_their_part(people, rule, path, words):
    with pytest.raises(ValidationError) as error:
        compile_rules(rule, newsletter=people)
    assert words in " ".join(error.value.message_dict[path])


def test_every_error_at_once_and_limits(people):
    rules = {"all": [cond("nope", "eq", 1), {"any": [cond("sdk", "lt", 1)]}]}
    with pytest.raises(ValidationError) as error:
        compile_rules(rules, newsletter=people)
    assert set(error.value.message_dict) == {
        "rules.all[0].all[0].field",
        "rules.all[1].any[0].all[0].op",
    }
    too_many = {"any": [cond("sdk", "is_set")] * (MAX_CONDITIONS + 1)}
    with pytest.raises(ValidationError, match="At most"):
        compile_rules(too_many, newsletter=people)
    deep: dict = cond("sdk", "is_set")
    for _ in range(10):
        deep = {"not": deep}
    with pytest.raises(ValidationError, match="nest"):
        compile_rules(deep, newsletter=people)


def test_text_from_a_rule_never_becomes_sql(people):
    hostile = "x'); DELETE FROM subscribers_subscriber; --"
    compiled = compile_rules(cond("role", "contains", hostile), newsletter=people)
    assert hostile not in compiled.sql
    assert picked(people, cond("role", "contains", hostile)) == set()
    with pytest.raises(ValidationError, match="no field"):
        compile_rules(cond("role' OR 1=1 --", "eq", "x"), newsletter=people)
    assert Subscriber.objects.filter(newsletter=people).count() == 4


def test_a_segment_never_reaches_another_newsletter(people, lists):
    other = NewsletterFactory()
    FieldDefinitionFactory(newsletter=other, key="planet")
    theirs = MailingListFactory(newsletter=other, slug="theirs")
    SubscriptionFactory(mailing_list=theirs, subscriber__email="them@example.org")
    SubscriberFactory(newsletter=other, email="python@example.org", attributes={"sdk": "python"})
    assert set(matching({"all": []}, newsletter=people).values_list("newsletter", flat=True)) == {
        people.pk
    }
    assert list(matching(cond("sdk", "eq", "python"), newsletter=people)) == [
        Subscriber.objects.get(newsletter=people, email="ada@example.org")
    ]
    with pytest.raises(ValidationError, match='no field "planet"'):
        compile_rules(cond("planet", "eq", "mars"), newsletter=people)
    with pytest.raises(ValidationError, match='no list "theirs"'):
        compile_rules(cond("list", "member", "theirs"), newsletter=people)
    their_campaign = CampaignFactory(newsletter=other)
    with pytest.raises(ValidationError, match="no campaign"):
        compile_rules(cond("opened", "campaign", their_campaign.pk), newsletter=people)


def test_builtin_rule_names_cannot_be_field_keys():
    from audiences.rules import BUILTINS

    assert set(BUILTINS) <= RESERVED_KEYS
