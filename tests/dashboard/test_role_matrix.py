"""Every dashboard URL, tried by every kind of visitor, with GET and with POST.

The URLs come from walking the resolver for the ``dashboard`` namespace, so a page
added later is tried here without editing this file. The rules checked are the
product's: anonymous visitors are sent to log in; non-members get 404 (a newsletter's
existence is not revealed); viewers read; editors also change lists, subscribers
and campaigns; owners also change everything under ``settings/``. Every page
answered sends a strict Content-Security-Policy.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api.services import issue_token
from automations import services as automations
from feeds.models import Feed
from newsletter.access import required_for
from newsletter.invitations import invitation_create
from newsletter.models import Role
from participation.services import calls, consultations, goals
from subscribers.models import BulkJob, BulkJobAction, ImportBatch
from tests.factories import (
    CampaignFactory,
    FieldDefinitionFactory,
    LayoutFactory,
    MembershipFactory,
    NewsletterFactory,
    SegmentFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.EDITOR, Role.OWNER]
# Pages anyone may open: the way in and the way out, a forgotten password, an
# invitation's link (its token is the permission).
PUBLIC = {
    "login",
    "login_verify",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "invitation",
}
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def dashboard_routes() -> list[tuple[str, str]]:
    """(URL name, route) of every named pattern in the dashboard namespace."""

    def walk(patterns, prefix: str, namespace: str | None):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "dashboard" and pattern.name:
                yield pattern.name, route

    return sorted(set(walk(get_resolver().url_patterns, "", None)))


ROUTES = dashboard_routes()
NEWSLETTER_ROUTES = [(name, route) for name, route in ROUTES if "<slug:slug>" in route]
OTHER_ROUTES = [(name, route) for name, route in ROUTES if "<slug:slug>" not in route]


class World:
    """One newsletter with a member of each role and one object of each kind."""

    def __init__(self) -> None:
        self.newsletter = NewsletterFactory()
        self.members = {
            role: MembershipFactory(newsletter=self.newsletter, role=role).user for role in ROLES
        }
        self.outsider = UserFactory()
        self.bystander = MembershipFactory(newsletter=self.newsletter, role=Role.VIEWER)
        campaign = CampaignFactory(newsletter=self.newsletter)
        token, _ = issue_token(user=self.members[Role.OWNER], newsletter=self.newsletter)
        subscription = SubscriptionFactory(mailing_list__newsletter=self.newsletter)
        batch = ImportBatch.objects.create(
            newsletter=self.newsletter,
            mailing_list=subscription.mailing_list,
            attestation="Said yes at the booth",
        )
        consultation = consultations.consultation_create(
            newsletter=self.newsletter,
            created_by=None,
            title="Roadmap",
            questions=[consultations.QuestionSpec("scale", "How happy are you?")],
        )
        call = calls.call_create(
            newsletter=self.newsletter, created_by=None, title="Talks", description="Propose one."
        )
        submission = calls.submission_create(
            call=call, title="A talk", text="About Demo.", credit_name="Ada", consent=True
        )
        goal = goals.goal_create(
            newsletter=self.newsletter,
            title="Sprint",
            kind="volunteers",
            target=10,
            cta_label="Join",
            cta_url="https://example.org/join",
        )
        self.field = FieldDefinitionFactory(newsletter=self.newsletter)
        automation = automations.automation_create(
            newsletter=self.newsletter,
            created_by=None,
            name="Welcome",
            lists=[subscription.mailing_list],
            steps=[automations.StepSpec(kind="send", subject="Welcome", body="Hello.")],
        )
        # Running: a removed step stays on record, so removing it twice is no 404.
        automations.automation_activate(automation=automation)
        # Made directly (the service would fetch it); a file address fails at once.
        feed = Feed.objects.create(
            newsletter=self.newsletter,
            name="Releases",
            url="file:///nowhere/releases.xml",
            layout=LayoutFactory(newsletter=self.newsletter),
            next_run_at=timezone.now(),
        )
        # The object a primary key after each path segment stands for.
        self.objects = {
            "automations": automation.pk,
            "steps": automation.steps.get().pk,
            "feeds": feed.pk,
            "consultations": consultation.pk,
            "questions": consultation.questions.get().pk,
            "calls": call.pk,
            "submissions": submission.pk,
            "goals": goal.pk,
            "campaigns": campaign.pk,
            "layouts": LayoutFactory(newsletter=self.newsletter).pk,
            "members": self.bystander.pk,
            "tokens": token.pk,
            "subscribers": subscription.subscriber_id,
            "imports": batch.pk,
            "bulk": BulkJob.objects.create(
                newsletter=self.newsletter, action=BulkJobAction.UNSUBSCRIBE
            ).pk,
            "segments": SegmentFactory(newsletter=self.newsletter).pk,
            "invitations": invitation_create(
                newsletter=self.newsletter,
                email="invited@example.org",
                role=Role.EDITOR,
                invited_by=self.members[Role.OWNER],
            ).pk,
        }

    def url(self, name: str, route: str) -> tuple[str, bool]:
        """The URL to try, and whether every object it names really exists.

        A parameter this file does not know yet gets a value that matches nothing:
        the access rules are still checked (they run before any lookup), and a
        permitted visitor may then get 404.
        """
        kwargs, known = {}, True
        for match in PARAMETER.finditer(route):
            converter, parameter = match.groups()
            if parameter == "slug":
                kwargs[parameter] = self.newsletter.slug
                continue
            segment = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            if segment in self.objects and converter == "int":
                kwargs[parameter] = self.objects[segment]
            elif segment == "fields":
                kwargs[parameter] = self.field.key
            else:
                known = False
                kwargs[parameter] = 2**31 - 1 if converter == "int" else "no-such-thing"
        return reverse(f"dashboard:{name}", kwargs=kwargs), known


def declared_role(url: str) -> Role:
    from django.urls import resolve

    view = resolve(url).func
    while not hasattr(view, "required_role"):
        assert hasattr(view, "__wrapped__"), (
            f"{url}: every newsletter page must be decorated with member_required"
        )
        view = view.__wrapped__
    return view.required_role


def assert_strict_policy(url: str, response) -> None:
    policy = response.get("Content-Security-Policy", "")
    assert "default-src" in policy, f"{url} sends no Content-Security-Policy"
    script = re.search(r"script-src ([^;]*)", policy)
    assert "'unsafe-" not in (script.group(1) if script else ""), f"{url}: {policy}"


def test_the_walk_finds_the_pages_of_every_app():
    names = {name for name, _ in ROUTES}
    assert {"home", "newsletter", "settings", "settings_tokens", "campaign_list"} <= names
    assert {"campaign_send", "outbox", "account_security"} <= names
    assert {"participation", "consultation_detail", "call_detail", "goal_detail"} <= names
    assert {"submission_moderate", "referrals", "settings_participation"} <= names
    assert {"feed_list", "feed_detail", "feed_check", "feed_run"} <= names


@pytest.mark.parametrize(
    ("name", "route"), NEWSLETTER_ROUTES, ids=[n for n, _ in NEWSLETTER_ROUTES]
)
def test_newsletter_page_answers_each_role_as_its_rules_say(client, name, route):
    world = World()
    url, objects_exist = world.url(name, route)
    required = declared_role(url)
    if "/settings/" in route:
        assert required == Role.OWNER, f"{name}: pages under settings/ are for owners only"

    client.force_login(world.members[Role.OWNER])
    post_only = client.get(url).status_code == 405
    client.logout()

    problems = []
    for method in ("get", "post"):
        send = getattr(client, method)
        needed = required_for(method.upper(), required)
        if method == "get" and post_only:
            expected_denied = {"anonymous": 405, "outsider": 405}
        else:
            expected_denied = {"anonymous": 302, "outsider": 404}

        client.logout()
        response = send(url)
        if response.status_code != expected_denied["anonymous"] or (
            response.status_code == 302
            and not response["Location"].startswith(reverse("dashboard:login"))
        ):
            problems.append(f"{method.upper()} anonymous → {response.status_code}")

        client.force_login(world.outsider)
        status = send(url).status_code
        if status != expected_denied["outsider"]:
            problems.append(f"{method.upper()} non-member → {status}")

        for role in ROLES:
            client.force_login(world.members[role])
            response = send(url)
            status = response.status_code
            if method == "get" and post_only:
                allowed = status == 405
            elif Role.includes(role, needed):
                allowed = status not in (403, 405) and (status != 404 or not objects_exist)
                if status == 200:
                    assert_strict_policy(url, response)
            else:
                allowed = status == 403
            if not allowed:
                problems.append(f"{method.upper()} {role} → {status} (needs {needed})")
    assert not problems, f"{url}: " + "; ".join(problems)


@pytest.mark.parametrize(("name", "route"), OTHER_ROUTES, ids=[n for n, _ in OTHER_ROUTES])
def test_other_dashboard_pages_need_a_login(client, name, route):
    url = reverse(
        f"dashboard:{name}",
        kwargs={parameter: 1 for _, parameter in PARAMETER.findall(route)},
    )
    for send in (client.get, client.post):
        response = send(url)
        if name in PUBLIC:
            # 404: a link whose token matches nothing; 422: a form posted empty.
            assert response.status_code in (200, 302, 404, 405, 422), f"{url}: {response}"
            continue
        assert response.status_code in (302, 405), f"{url}: {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("name", [name for name, _ in OTHER_ROUTES if name.startswith("outbox")])
def test_the_outbox_is_for_staff_only(client, name):
    route = dict(OTHER_ROUTES)[name]
    url = reverse(
        f"dashboard:{name}", kwargs={parameter: 1 for _, parameter in PARAMETER.findall(route)}
    )
    client.force_login(UserFactory())
    for send in (client.get, client.post):
        response = send(url)
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("dashboard:login"))


def test_every_page_a_member_opens_sends_a_strict_policy(client):
    """Pages outside a newsletter (home, account) send the same policy as the rest."""
    client.force_login(UserFactory())
    for name in ("home", "account_security", "account_totp_enrol"):
        url = reverse(f"dashboard:{name}")
        response = client.get(url)
        assert response.status_code == 200
        assert_strict_policy(url, response)


def test_only_instance_admins_open_the_new_newsletter_page(client):
    url = reverse("dashboard:newsletter_create")
    client.force_login(MembershipFactory(role=Role.OWNER).user)
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    client.force_login(UserFactory(is_superuser=True))
    response = client.get(url)
    assert response.status_code == 200
    assert_strict_policy(url, response)


def test_the_pages_without_a_login_send_a_strict_policy(client):
    for name in ("login", "password_reset", "password_reset_done", "password_reset_complete"):
        url = reverse(f"dashboard:{name}")
        response = client.get(url)
        assert response.status_code == 200
        assert_strict_policy(url, response)
