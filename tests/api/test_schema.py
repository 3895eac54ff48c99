"""The published schema, the docs page, and schemathesis against the live server."""

import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.services import issue_token
from newsletter.models import Role
from tests.factories import MailingListFactory, MembershipFactory, NewsletterFactory


@pytest.mark.django_db
def test_openapi_schema_lists_the_endpoints_and_bearer_auth():
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/lists/",
        "/api/v1/subscribers/",
        "/api/v1/subscribers/{subscriber_id}/",
        "/api/v1/imports/",
        "/api/v1/imports/{batch_id}/",
        "/api/v1/lists/{slug}/export.csv",
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{campaign_id}/",
        "/api/v1/campaigns/{campaign_id}/send/",
        "/api/v1/campaigns/{campaign_id}/pause/",
        "/api/v1/campaigns/{campaign_id}/resume/",
        "/api/v1/campaigns/{campaign_id}/test/",
        "/api/v1/campaigns/{campaign_id}/stats/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{endpoint_id}/deliveries/",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_docs_are_served_from_our_static_files_under_a_strict_csp():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" in policy.split("style-src")[1].split(";")[0]
    assert "unsafe-inline" not in Client().get("/api/v1/lists/")["Content-Security-Policy"]


@pytest.fixture
def live_api(live_server, transactional_db, redis_client, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.API_REQUESTS_PER_TOKEN_PER_MINUTE = 100_000
    newsletter = NewsletterFactory(slug="live")
    MailingListFactory(newsletter=newsletter, slug="news")
    user = MembershipFactory(newsletter=newsletter, role=Role.OWNER).user
    _, raw = issue_token(user=user, newsletter=newsletter, role=Role.OWNER)
    return live_server.url, raw


@pytest.mark.integration
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_api):
    url, token = live_api
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    failures = []
    # One kept-alive connection instead of one per example; closed at the end so the
    # live server's thread lets go of its database connection.
    with requests.Session() as session:
        _run_every_operation(schema, session, token, failures)
    assert not failures, "\n\n".join(failures)


def _run_every_operation(schema, session, token, failures):
    for operation in schema.get_all_operations():
        operation = operation.ok()
        if operation.path.endswith("export.csv") or operation.path.startswith("/api/v1/imports"):
            continue  # CSV and multipart bodies: covered by their own tests

        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case):
            # Whether a list slug exists depends on the database, which a schema cannot
            # say: a well-formed but unknown slug is rightly refused, so that check is off.
            case.call_and_validate(
                session=session,
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance],
            )

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
