"""The API's single entry point: one NinjaAPI, one router per resource.

Another app adds its resource with one line below (for example
``api.add_router("/campaigns/", "campaigns.api.router")``); it gets the same
token authentication, error shape and rate limit.
"""

from csp.decorators import csp_update
from ninja import NinjaAPI, Swagger

from . import errors
from .auth import TokenAuth

api = NinjaAPI(
    title="Crier API",
    version="1",
    description=(
        "Lists, subscribers, custom fields, segments, imports, campaigns and their "
        "experiments, webhooks, participation (consultations, open calls, goals, referrals, "
        "the transparency page), followed feeds and automations of one newsletter. "
        "Authenticate with "
        "`Authorization: Bearer <token>` (`manage.py api_token USER NEWSLETTER`)."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    docs=Swagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    # Swagger UI is served from ninja's own static files; it only needs inline styles.
    docs_decorator=csp_update({"style-src": ["'unsafe-inline'"]}),
)
errors.install(api)
api.add_router("/lists/", "api.lists.router")
api.add_router("/subscribers/", "api.subscribers.router")
api.add_router("/imports/", "api.imports.router")
api.add_router("/campaigns/", "api.campaigns.router")
api.add_router("/campaigns/", "experiments.api.router")
api.add_router("/webhooks/", "api.webhooks.router")
api.add_router("/fields/", "api.fields.router")
api.add_router("/segments/", "api.segments.router")
api.add_router("/consultations/", "participation.api.consultations_router")
api.add_router("/calls/", "participation.api.calls_router")
api.add_router("/goals/", "participation.api.goals_router")
api.add_router("/participation/", "participation.api.participation_router")
api.add_router("/automations/", "automations.api.router")
api.add_router("/feeds/", "feeds.api.router")

app_name = "api"
urlpatterns = api.urls[0]
