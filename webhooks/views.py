"""The owners' webhook settings page: endpoints, recent deliveries, a test event."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from newsletter.access import member_required
from newsletter.models import Newsletter, Role

from . import selectors, services
from .forms import EndpointForm


@never_cache
@member_required(Role.OWNER)
def endpoint_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """List and add endpoints; a new endpoint's secret is shown on this response only."""
    form = EndpointForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.endpoint_create(newsletter=newsletter, **form.cleaned_data)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = EndpointForm()
    return render(
        request,
        "webhooks/endpoint_list.html",
        {
            "newsletter": newsletter,
            "form": form,
            "created": created,
            "endpoints": selectors.endpoints(newsletter=newsletter),
            "deliveries": selectors.recent_deliveries(newsletter=newsletter),
        },
        status=422 if form.errors else 200,
    )


def _endpoint(newsletter: Newsletter, pk: int):
    return get_object_or_404(newsletter.webhook_endpoints, pk=pk)


@require_POST
@member_required(Role.OWNER)
def endpoint_disable(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    endpoint = services.endpoint_disable(endpoint=_endpoint(newsletter, pk))
    messages.success(request, _("%(url)s will receive no more events.") % {"url": endpoint.url})
    return redirect("dashboard:webhooks", slug=newsletter.slug)


@require_POST
@member_required(Role.OWNER)
def endpoint_test(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    endpoint = _endpoint(newsletter, pk)
    if not endpoint.active:
        messages.error(request, _("This endpoint is disabled."))
    else:
        services.send_test(endpoint=endpoint)
        messages.success(
            request, _("A test event is on its way to %(url)s.") % {"url": endpoint.url}
        )
    return redirect("dashboard:webhooks", slug=newsletter.slug)
