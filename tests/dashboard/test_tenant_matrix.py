"""Every dashboard page and API endpoint of newsletter B, tried with newsletter A's owner
session and A's owner token: 404, and nothing anywhere changed.

Dashboard pages come from walking the URL resolver, API endpoints from the OpenAPI
schema, so a route added later is tried here without editing this file; but a route
parameter this file cannot fill with one of B's objects, a dashboard page outside a
newsletter, or an API endpoint that is not in ``API_ROUTES`` fails the test until it is
classified here. Two ways in are tried for each page: B's own URL, and A's URL naming
one of B's objects (a contact, a campaign, a list...).
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import ForeignKey
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.services import issue_token
from api.urls import api as ninja_api
from automations import services as automations
from campaigns.models import Edition, Status
from delivery.models import Delivery, DeliveryStatus
from experiments.models import Experiment, State, Variant
from feeds.models import Feed
from newsletter.models import Invitation, Newsletter, Role
from participation.services import calls, consultations, goals
from subscribers import import_files, services
from subscribers.models import BulkJob, BulkJobAction, ConsentSource, ImportBatch
from tests.dashboard.test_role_matrix import NEWSLETTER_ROUTES, OTHER_ROUTES, PARAMETER
from tests.factories import (
    CampaignFactory,
    FieldDefinitionFactory,
    LayoutFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
    SegmentFactory,
    UserFactory,
)
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

# What a dashboard route parameter names, by the path segment before it: the matrix
# puts one of B's objects there. A new parameter must be added here to be tried.
PARAMETER_KINDS = {
    ("campaigns", "pk"): "campaign",
    ("layouts", "pk"): "layout",
    ("members", "pk"): "membership",
    ("tokens", "pk"): "token",
    ("subscribers", "pk"): "contact",
    ("imports", "pk"): "import",
    ("bulk", "pk"): "bulk_job",
    ("webhooks", "pk"): "endpoint",
    ("lists", "list_slug"): "list_slug",
    ("import", "token"): "upload",
    ("live-preview", "key"): "preview",
    ("invitations", "pk"): "invitation",
    ("consultations", "pk"): "consultation",
    ("questions", "question"): "question",
    ("calls", "pk"): "call",
    ("submissions", "submission"): "submission",
    ("goals", "pk"): "goal",
    ("segments", "pk"): "segment",
    ("fields", "key"): "field_key",
    ("automations", "pk"): "automation",
    ("steps", "step_pk"): "step",
    ("new", "kind"): "step_kind",
    ("feeds", "pk"): "feed",
    ("preview", "key"): "feed_preview",
    ("editions", "language"): "edition_language",
}
# Dashboard pages that belong to no newsletter, and why none can reach a newsletter's data.
INSTANCE_ROUTES = {
    "login": "the way in",
    "login_verify": "the way in (second factor)",
    "logout": "the way out",
    "home": "lists the visitor's own newsletters (newsletter.access.newsletters_for)",
    "account_security": "the visitor's own account",
    "account_totp_enrol": "the visitor's own account",
    "account_backup_codes": "the visitor's own account",
    "account_two_factor_off": "the visitor's own account",
    "outbox": "staff only: the instance's mail",
    "outbox_message": "staff only: the instance's mail",
    "outbox_message_html": "staff only: the instance's mail",
    "outbox_send_test": "staff only: the instance's mail",
    "account_verify": "the visitor's own account (second factor a newsletter requires)",
    "newsletter_create": "instance admins only: makes a new newsletter, reads none",
    "invitation": "an unguessable mailed token; grants only the role it was issued for",
    "password_reset": "the visitor's own account, answered alike for every address",
    "password_reset_done": "a fixed page",
    "password_reset_confirm": "the visitor's own account, through Django's reset token",
    "password_reset_complete": "a fixed page",
}
# Volatile columns a request by A may write whatever it asks for.
VOLATILE = {"api.ApiToken": {"last_used_at"}, "auth.User": {"last_login"}}
UNTRACKED = {Session}


@dataclass
class Tenant:
    """A newsletter with one object of each kind and an owner's session and token."""

    newsletter: Newsletter
    objects: dict = field(default_factory=dict)
    session: Client = field(default_factory=Client)
    api: Client | None = None

    @classmethod
    def make(cls, slug: str) -> "Tenant":
        tenant = cls(NewsletterFactory(slug=slug, name=f"News {slug}"))
        newsletter = tenant.newsletter
        owner = MembershipFactory(newsletter=newsletter, role=Role.OWNER).user
        tenant.session.force_login(owner)
        token, raw = issue_token(user=owner, newsletter=newsletter, role=Role.OWNER)
        tenant.api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        mailing_list = MailingListFactory(newsletter=newsletter, slug=f"{slug}-news")
        contact = services.subscribe(
            newsletter=newsletter,
            email=f"reader-of-{slug}@example.org",
            name=f"Reader of {slug}",
            lists=[mailing_list],
            source=ConsentSource.API,
            wording="Yes.",
            attestation="Yes",
        ).subscriber
        campaign = CampaignFactory(
            newsletter=newsletter, name=f"Issue of {slug}", status=Status.SENT
        )
        campaign.lists.set([mailing_list])
        Delivery.objects.create(campaign=campaign, subscriber=contact, status=DeliveryStatus.SENT)
        # Sent, so made as the services would have made it before the start.
        Edition.objects.create(campaign=campaign, language="fr", subject="Numéro", body="B")
        experiment = Experiment.objects.create(
            campaign=campaign, sample_size=1, state=State.DECIDED, winner="A"
        )
        Variant.objects.create(experiment=experiment, label="A", subject="A's subject")
        Variant.objects.create(experiment=experiment, label="B", subject="B's subject")
        batch = ImportBatch.objects.create(
            newsletter=newsletter, mailing_list=mailing_list, attestation="Yes"
        )
        upload = SimpleUploadedFile("people.csv", b"email\nx@example.org\n")
        preview = f"preview-{slug}"
        cache.set(f"campaigns:live-preview:{newsletter.pk}:{preview}", "<p>B</p>", 3600)
        cache.set(f"feeds:preview:{newsletter.pk}:{preview}", "<p>B</p>", 3600)
        layout = LayoutFactory(newsletter=newsletter)
        tenant.objects = {
            "campaign": campaign.pk,
            "layout": layout.pk,
            "membership": MembershipFactory(newsletter=newsletter, role=Role.VIEWER).pk,
            "token": token.pk,
            "contact": contact.pk,
            "import": batch.pk,
            "bulk_job": BulkJob.objects.create(
                newsletter=newsletter, action=BulkJobAction.UNSUBSCRIBE, total=1
            ).pk,
            "endpoint": Endpoint.objects.create(
                newsletter=newsletter, url=f"https://hooks.example.org/{slug}", events=["ping"]
            ).pk,
            "list_slug": mailing_list.slug,
            "upload": import_files.store_upload(newsletter=newsletter, upload=upload),
            "preview": preview,
            "feed_preview": preview,
            # Made directly: the service would fetch it. A file address is refused at
            # once, so "check now" and "make it now" touch no network here.
            "feed": Feed.objects.create(
                newsletter=newsletter,
                name=f"Releases of {slug}",
                url=f"file:///nowhere/{slug}.xml",
                layout=layout,
                next_run_at=timezone.now() + timedelta(days=1),
            ).pk,
            "edition_language": "fr",
            **participation_objects(newsletter, slug),
            "segment": SegmentFactory(newsletter=newsletter, name=f"Segment of {slug}").pk,
            "field_key": FieldDefinitionFactory(newsletter=newsletter, key=f"{slug}_field").key,
            **automation_objects(newsletter, mailing_list),
            "invitation": Invitation.objects.create(
                newsletter=newsletter,
                email=f"invitee-of-{slug}@example.org",
                role=Role.EDITOR,
                expires_at=timezone.now() + timedelta(days=7),
            ).pk,
        }
        return tenant


def participation_objects(newsletter: Newsletter, slug: str) -> dict:
    """A consultation with its question, an open call with a submission, and a goal."""
    consultation = consultations.consultation_create(
        newsletter=newsletter,
        created_by=None,
        title=f"Roadmap of {slug}",
        questions=[consultations.QuestionSpec("scale", "How happy are you?")],
    )
    call = calls.call_create(
        newsletter=newsletter, created_by=None, title=f"Talks of {slug}", description="Propose."
    )
    submission = calls.submission_create(
        call=call, title="A talk", text="About Demo.", credit_name="Ada", consent=True
    )
    goal = goals.goal_create(
        newsletter=newsletter,
        title=f"Sprint of {slug}",
        kind="volunteers",
        target=10,
        cta_label="Join",
        cta_url="https://example.org/join",
    )
    return {
        "consultation": consultation.pk,
        "question": consultation.questions.get().pk,
        "call": call.pk,
        "submission": submission.pk,
        "goal": goal.pk,
    }


def automation_objects(newsletter: Newsletter, mailing_list) -> dict:
    """A draft automation: a wait, then an email."""
    automation = automations.automation_create(
        newsletter=newsletter,
        created_by=None,
        name=f"Welcome to {newsletter.slug}",
        lists=[mailing_list],
        steps=[
            automations.StepSpec(kind="wait", delay=timedelta(days=1)),
            automations.StepSpec(kind="send", subject="Welcome", body="Hello."),
        ],
    )
    return {
        "automation": automation.pk,
        "step": automation.steps.get(position=1).pk,
        "step_kind": "wait",
    }


@pytest.fixture
def tenants(settings, tmp_path, redis_client):
    settings.IMPORT_DIR = str(tmp_path)
    return Tenant.make("a"), Tenant.make("b")


def everything() -> dict:
    """Every row of every table (but the volatile columns), to prove nothing changed."""
    state = {}
    for model in apps.get_models():
        if model in UNTRACKED:
            continue
        skip = VOLATILE.get(model._meta.label, set())
        state[model._meta.label] = [
            {key: value for key, value in row.items() if key not in skip}
            for row in model.objects.order_by("pk").values()
        ]
    return state


def dashboard_url(name: str, route: str, slug: str, objects: dict) -> str:
    kwargs = {}
    for match in PARAMETER.finditer(route):
        _converter, parameter = match.groups()
        if parameter == "slug":
            kwargs[parameter] = slug
            continue
        segment = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        kind = PARAMETER_KINDS.get((segment, parameter))
        assert kind is not None, (
            f"{name}: classify the parameter <{parameter}> after {segment}/ in PARAMETER_KINDS"
        )
        kwargs[parameter] = objects[kind]
    return reverse(f"dashboard:{name}", kwargs=kwargs)


def test_every_page_outside_a_newsletter_is_classified():
    unclassified = {name for name, _ in OTHER_ROUTES} - set(INSTANCE_ROUTES)
    assert not unclassified, (
        f"{unclassified}: put the page under /n/<slug>/ or say in INSTANCE_ROUTES why it "
        "cannot reach a newsletter's data"
    )


def allowed_methods(client: Client, url: str) -> set[str]:
    """The methods the page answers at all (for its own newsletter's owner), and not 404."""
    statuses = {method: getattr(client, method)(url).status_code for method in ("get", "post")}
    assert 404 not in statuses.values(), f"{url}: {statuses} for its own newsletter's owner"
    return {method for method, status in statuses.items() if status != 405}


@pytest.mark.parametrize(
    ("name", "route"), NEWSLETTER_ROUTES, ids=[n for n, _ in NEWSLETTER_ROUTES]
)
def test_bs_pages_answer_as_to_a_404_and_change_nothing(tenants, name, route):
    a, b = tenants
    tries = [dashboard_url(name, route, b.newsletter.slug, b.objects)]
    if len(PARAMETER.findall(route)) > 1:  # A's page, naming B's objects
        tries.append(dashboard_url(name, route, a.newsletter.slug, b.objects))
    # The page is real: A's own objects reach it (so the 404s below are B's, not a typo);
    # a method it never answers (405) reveals nothing either way.
    own = allowed_methods(a.session, dashboard_url(name, route, a.newsletter.slug, a.objects))
    assert own, f"{name} answers no method"
    before = everything()
    problems = []
    for url in tries:
        for method in ("get", "post"):
            status = getattr(a.session, method)(url).status_code
            if status != 404 and (method in own or status != 405):
                problems.append(f"{method.upper()} {url} → {status}")
    assert not problems, "; ".join(problems)
    assert everything() == before


# The API: every endpoint of the schema, with how B's objects are named in it.
B_LIST = "b-news"
API_ROUTES = {
    # Endpoints naming an object in the path: with A's token and B's object, 404.
    ("get", "/api/v1/lists/{slug}/export.csv"): {},
    ("delete", "/api/v1/lists/{slug}/"): {},
    ("post", "/api/v1/lists/{slug}/archive/"): {},
    ("post", "/api/v1/lists/{slug}/unarchive/"): {},
    ("get", "/api/v1/subscribers/{subscriber_id}/"): {},
    ("patch", "/api/v1/subscribers/{subscriber_id}/"): {"json": {"name": "Changed by A"}},
    ("delete", "/api/v1/subscribers/{subscriber_id}/"): {},
    ("get", "/api/v1/imports/{batch_id}/"): {},
    ("get", "/api/v1/campaigns/{campaign_id}/"): {},
    ("patch", "/api/v1/campaigns/{campaign_id}/"): {"json": {"name": "Changed by A"}},
    ("delete", "/api/v1/campaigns/{campaign_id}/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/duplicate/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/unschedule/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/send/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/pause/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/resume/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/test/"): {"json": {"to": ["a@example.org"]}},
    ("get", "/api/v1/campaigns/{campaign_id}/stats/"): {},
    ("get", "/api/v1/campaigns/{campaign_id}/editions/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/editions/"): {
        "json": {"language": "de", "subject": "Von A", "body": "Hallo."}
    },
    ("get", "/api/v1/campaigns/{campaign_id}/editions/{language}/"): {},
    ("patch", "/api/v1/campaigns/{campaign_id}/editions/{language}/"): {
        "json": {"subject": "Changed by A"}
    },
    ("delete", "/api/v1/campaigns/{campaign_id}/editions/{language}/"): {},
    ("get", "/api/v1/campaigns/{campaign_id}/experiment/"): {},
    ("put", "/api/v1/campaigns/{campaign_id}/experiment/"): {
        "json": {"sample_size": 1, "variants": [{"subject": "A's"}, {"subject": "Also A's"}]}
    },
    ("delete", "/api/v1/campaigns/{campaign_id}/experiment/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/experiment/decide/"): {"json": {"winner": "A"}},
    ("get", "/api/v1/campaigns/{campaign_id}/uncertain/"): {},
    ("post", "/api/v1/campaigns/{campaign_id}/uncertain/"): {"json": {"choice": "resend"}},
    ("get", "/api/v1/consultations/{consultation_id}/"): {},
    ("patch", "/api/v1/consultations/{consultation_id}/"): {"json": {"title": "Changed by A"}},
    ("get", "/api/v1/consultations/{consultation_id}/results/"): {},
    ("get", "/api/v1/consultations/{consultation_id}/results.csv"): {},
    ("get", "/api/v1/calls/{call_id}/"): {},
    ("patch", "/api/v1/calls/{call_id}/"): {"json": {"title": "Changed by A"}},
    ("get", "/api/v1/calls/{call_id}/submissions/"): {},
    ("post", "/api/v1/calls/{call_id}/insert/"): {"json": {"campaign": 0}},
    ("post", "/api/v1/calls/{call_id}/submissions/{submission_id}/moderate/"): {
        "json": {"action": "accept"}
    },
    ("get", "/api/v1/goals/{goal_id}/"): {},
    ("patch", "/api/v1/goals/{goal_id}/"): {"json": {"title": "Changed by A"}},
    ("post", "/api/v1/goals/{goal_id}/progress/"): {"json": {"amount": 5}},
    ("get", "/api/v1/webhooks/{endpoint_id}/"): {},
    ("post", "/api/v1/webhooks/{endpoint_id}/disable/"): {},
    ("post", "/api/v1/webhooks/{endpoint_id}/test/"): {},
    ("get", "/api/v1/webhooks/{endpoint_id}/deliveries/"): {},
    ("get", "/api/v1/fields/{key}/"): {},
    ("patch", "/api/v1/fields/{key}/"): {"json": {"label": "Changed by A"}},
    ("delete", "/api/v1/fields/{key}/"): {},
    ("get", "/api/v1/segments/{segment_id}/"): {},
    ("get", "/api/v1/segments/{segment_id}/count/"): {},
    ("patch", "/api/v1/segments/{segment_id}/"): {"json": {"name": "Changed by A"}},
    ("delete", "/api/v1/segments/{segment_id}/"): {},
    ("get", "/api/v1/automations/{automation_id}/"): {},
    ("patch", "/api/v1/automations/{automation_id}/"): {"json": {"name": "Changed by A"}},
    ("delete", "/api/v1/automations/{automation_id}/"): {},
    ("post", "/api/v1/automations/{automation_id}/steps/"): {"json": {"kind": "stop"}},
    ("patch", "/api/v1/automations/{automation_id}/steps/{step_id}/"): {
        "json": {"kind": "wait", "delay_seconds": 60}
    },
    ("delete", "/api/v1/automations/{automation_id}/steps/{step_id}/"): {},
    ("post", "/api/v1/automations/{automation_id}/activate/"): {},
    ("post", "/api/v1/automations/{automation_id}/pause/"): {},
    ("post", "/api/v1/automations/{automation_id}/resume/"): {},
    ("post", "/api/v1/automations/{automation_id}/enrol/"): {
        "json": {"email": "reader-of-b@example.org"}
    },
    ("get", "/api/v1/feeds/{feed_id}/"): {},
    ("patch", "/api/v1/feeds/{feed_id}/"): {"json": {"name": "Changed by A"}},
    ("delete", "/api/v1/feeds/{feed_id}/"): {},
    ("post", "/api/v1/feeds/{feed_id}/check/"): {},
    ("post", "/api/v1/feeds/{feed_id}/run/"): {},
    # Endpoints naming B's objects in the query or body: 422, the list is not A's.
    ("get", "/api/v1/subscribers/"): {"query": {"list": B_LIST}, "status": 422},
    ("post", "/api/v1/subscribers/"): {
        "json": {"email": "reader-of-b@example.org", "lists": [B_LIST], "attestation": "Yes"},
        "status": 422,
    },
    ("post", "/api/v1/imports/"): {
        "multipart": {"list": B_LIST, "consent": "Yes"},
        "status": 422,
    },
    ("post", "/api/v1/campaigns/"): {
        "json": {"name": "X", "subject": "X", "body": "X", "lists": [B_LIST]},
        "status": 422,
    },
    ("post", "/api/v1/segments/"): {
        "json": {
            "name": "X",
            "rules": {"all": [{"field": "list", "op": "member", "value": B_LIST}]},
        },
        "status": 422,
    },
    ("post", "/api/v1/segments/count/"): {
        "json": {"rules": {"all": [{"field": "b_field", "op": "is_set"}]}},
        "status": 422,
    },
    ("post", "/api/v1/feeds/"): {
        "json": {"name": "X", "url": "https://feeds.example.org/x.xml", "lists": [B_LIST]},
        "status": 422,
    },
    # Endpoints that name nothing: they read or add to the token's own newsletter only.
    ("get", "/api/v1/fields/"): {"status": 200},
    ("post", "/api/v1/fields/"): {"json": {"key": "b_field", "label": "A's own"}, "status": 201},
    ("get", "/api/v1/segments/"): {"status": 200},
    ("get", "/api/v1/lists/"): {"status": 200},
    ("post", "/api/v1/lists/"): {"json": {"slug": B_LIST, "name": "A's own"}, "status": 201},
    ("get", "/api/v1/campaigns/"): {"status": 200},
    ("get", "/api/v1/webhooks/"): {"status": 200},
    ("get", "/api/v1/automations/"): {"status": 200},
    ("post", "/api/v1/automations/"): {"json": {"name": "X", "lists": [B_LIST]}, "status": 422},
    ("get", "/api/v1/feeds/"): {"status": 200},
    ("get", "/api/v1/consultations/"): {"status": 200},
    ("post", "/api/v1/consultations/"): {"json": {}, "status": 422},
    ("get", "/api/v1/calls/"): {"status": 200},
    ("post", "/api/v1/calls/"): {"json": {}, "status": 422},
    ("get", "/api/v1/goals/"): {"status": 200},
    ("post", "/api/v1/goals/"): {"json": {}, "status": 422},
    ("get", "/api/v1/participation/settings/"): {"status": 200},
    ("patch", "/api/v1/participation/settings/"): {"json": {}, "status": 200},
    ("get", "/api/v1/participation/referrals/"): {"status": 200},
    # A's own transparency page, which A has not published.
    ("get", "/api/v1/participation/transparency/"): {"status": 404},
    ("post", "/api/v1/webhooks/"): {
        "json": {"url": "https://hooks.example.org/a2", "events": ["subscriber.subscribed"]},
        "status": 201,
    },
}
SCHEMA_ROUTES = sorted(
    (method, path)
    for path, operations in ninja_api.get_openapi_schema()["paths"].items()
    for method in operations
)
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
PATH_KINDS = {
    "slug": "list_slug",
    "subscriber_id": "contact",
    "batch_id": "import",
    "campaign_id": "campaign",
    "endpoint_id": "endpoint",
    "consultation_id": "consultation",
    "call_id": "call",
    "submission_id": "submission",
    "goal_id": "goal",
    "segment_id": "segment",
    "key": "field_key",
    "automation_id": "automation",
    "step_id": "step",
    "feed_id": "feed",
    "language": "edition_language",
}


def test_every_api_endpoint_is_classified():
    unclassified = set(SCHEMA_ROUTES) - set(API_ROUTES)
    assert not unclassified, f"{unclassified}: add them to API_ROUTES"
    assert not set(API_ROUTES) - set(SCHEMA_ROUTES), "API_ROUTES names endpoints that are gone"


def b_scoped(b: Tenant) -> dict:
    """Everything of B's: every row with a path to B's newsletter through its foreign keys."""
    state = {}
    for model in apps.get_models():
        path = newsletter_path(model)
        if path is None:
            continue
        state[model._meta.label] = list(
            model.objects.filter(**{path: b.newsletter.pk}).order_by("pk").values()
        )
    return state


def newsletter_path(model, depth: int = 3) -> str | None:
    if model is Newsletter:
        return "pk"
    if depth == 0:
        return None
    for candidate in model._meta.concrete_fields:
        if isinstance(candidate, ForeignKey):
            rest = newsletter_path(candidate.related_model, depth - 1)
            if rest is not None:
                return candidate.name if rest == "pk" else f"{candidate.name}__{rest}"
    return None


def call(client: Client, method: str, path: str, spec: dict):
    if "multipart" in spec:
        upload = SimpleUploadedFile("people.csv", b"email\nx@example.org\n")
        return client.post(path, {**spec["multipart"], "file": upload})
    if "json" in spec:
        return getattr(client, method)(path, spec["json"], content_type="application/json")
    return getattr(client, method)(path, spec.get("query"))


@pytest.mark.parametrize(
    ("method", "path"), SCHEMA_ROUTES, ids=[f"{m} {p}" for m, p in SCHEMA_ROUTES]
)
def test_bs_api_answers_as_token_a_404_and_changes_nothing(tenants, method, path):
    a, b = tenants
    spec = API_ROUTES[(method, path)]
    names = PATH_PARAMETER.findall(path)
    url = path
    for parameter in names:
        url = url.replace(f"{{{parameter}}}", str(b.objects[PATH_KINDS[parameter]]))
    before, before_b = everything(), b_scoped(b)
    response = call(a.api, method, url, spec)
    expected = spec.get("status", 404)
    assert response.status_code == expected, (url, response.content)
    assert b_scoped(b) == before_b
    if expected >= 400:
        assert everything() == before
    for trace in ("reader-of-b", "Reader of b", "Issue of b", "hooks.example.org/b"):
        assert trace not in response.content.decode(), f"{url} shows B's {trace}"
    if names:  # the same call on A's own object does reach it
        own = path
        for parameter in names:
            own = own.replace(f"{{{parameter}}}", str(a.objects[PATH_KINDS[parameter]]))
        assert call(a.api, method, own, spec).status_code != 404, own


def test_bs_segment_as_a_filter_answers_as_token_a_422_and_shows_nothing(tenants):
    """An object named by id in a query string (the subscribers' ``segment`` filter):
    B's segment is unknown to A's token, while A's own picks A's people."""
    a, b = tenants
    before = everything()
    refused = a.api.get("/api/v1/subscribers/", {"segment": b.objects["segment"]})
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"segment"}
    assert "Segment of b" not in refused.content.decode()
    own = a.api.get("/api/v1/subscribers/", {"segment": a.objects["segment"]})
    assert [item["email"] for item in own.json()["items"]] == ["reader-of-a@example.org"]
    assert everything() == before


def test_a_superuser_sees_every_newsletter(tenants):
    """The instance admin is the one member of every newsletter (newsletters_for)."""
    _a, b = tenants
    admin = Client()
    admin.force_login(UserFactory(is_superuser=True, is_staff=True))
    url = reverse("dashboard:subscriber_detail", args=[b.newsletter.slug, b.objects["contact"]])
    assert admin.get(url).status_code == 200
