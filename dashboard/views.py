from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from campaigns.forms import TestSendForm
from delivery.models import OutboxMessage
from delivery.sending_backends import route_of
from delivery.services import campaign_test_request
from delivery.tasks import send_test_message
from delivery.test_mail import TestMailRefused
from newsletter import services as newsletter_services
from newsletter.access import can_create_newsletters, member_required, newsletters_for
from newsletter.csp import MAIL_PREVIEW_POLICY
from newsletter.forms import add_service_errors
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role, known_timezones
from subscribers import selectors as subscriber_selectors

from . import selectors
from .forms import NewsletterCreateForm, TestMessageForm

OUTBOX_PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/home.html",
        {
            "newsletters": newsletters_for(request.user),
            "can_create": can_create_newsletters(request.user),
        },
    )


@login_required
def newsletter_create(request: HttpRequest) -> HttpResponse:
    """An instance admin starts a newsletter and becomes its first owner."""
    if not can_create_newsletters(request.user):
        raise PermissionDenied
    form = NewsletterCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            newsletter = newsletter_services.newsletter_create(
                **form.cleaned_data, owner=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("%(name)s is ready. Next: a list to send to, and your team under Settings.")
                % {"name": newsletter.name},
            )
            return redirect(newsletter.get_absolute_url())
    return render(
        request,
        "dashboard/newsletter_create.html",
        {"form": form, "timezones": known_timezones()},
        status=422 if form.errors else 200,
    )


def _lists_with_sizes(newsletter: Newsletter) -> list:
    sizes = subscriber_selectors.list_sizes(newsletter)
    return [(mailing_list, sizes[mailing_list.pk]) for mailing_list in newsletter.lists.all()]


@member_required(Role.VIEWER)
def newsletter_detail(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """The newsletter's home: recent campaigns, list sizes, growth, the next send."""
    growth = selectors.growth(newsletter)
    return render(
        request,
        "dashboard/newsletter.html",
        {
            "newsletter": newsletter,
            "campaigns": selectors.recent_campaigns(newsletter),
            "lists": _lists_with_sizes(newsletter),
            "growth": growth,
            "growth_chart": growth.chart(),
            "growth_totals": (sum(growth.joined), sum(growth.left)),
            "next_send": selectors.next_scheduled(newsletter),
            "is_owner": Role.includes(request.role, Role.OWNER),
        },
    )


@require_POST
@member_required(Role.EDITOR)
def campaign_test_send(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Queue a "[TEST]" copy of a campaign to a few addresses (lives here: it calls delivery)."""
    campaign = get_object_or_404(newsletter.campaigns, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        for error in form.errors["to"]:
            messages.error(request, error)
    else:
        try:
            campaign_test_request(
                campaign=campaign,
                to=form.cleaned_data["to"],
                user=request.user,
                requested_by=request.user.get_username(),
            )
        except TestMailRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _test_destination(request, newsletter, form.cleaned_data["to"])
            )
    return redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=campaign.pk)


def _test_destination(request: HttpRequest, newsletter: Newsletter, to: list[str]) -> str:
    """Where the test went: the route named, and the Outbox only when it is the route
    (and the member may open it: it is the instance admins' page)."""
    route = route_of(newsletter.pk)
    text = _("Test queued for %(addresses)s, through %(route)s.") % {
        "addresses": ", ".join(to),
        "route": route.name,
    }
    if route.outbox and request.user.is_staff:
        return format_html(
            '{} <a href="{}">{}</a>', text, reverse("dashboard:outbox"), _("Open the Outbox")
        )
    if route.outbox:
        return _("%(text)s An instance admin can read it in the Outbox.") % {"text": text}
    return text


@staff_member_required(login_url="dashboard:login")
def outbox(request: HttpRequest) -> HttpResponse:
    template = "dashboard/outbox/_table.html" if is_htmx(request) else "dashboard/outbox/list.html"
    return render(
        request,
        template,
        {"page": _outbox_page(request.GET.get("page")), "form": TestMessageForm()},
    )


def _outbox_page(number):
    return Paginator(OutboxMessage.objects.defer("raw"), OUTBOX_PAGE_SIZE).get_page(number)


@require_POST
@staff_member_required(login_url="dashboard:login")
def outbox_send_test(request: HttpRequest) -> HttpResponse:
    form = TestMessageForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "dashboard/outbox/list.html",
            {"page": _outbox_page(1), "form": form},
            status=422,
        )
    send_test_message.delay_on_commit(form.cleaned_data["to"], request.user.get_username())
    messages.success(request, _("Test message queued; it appears here once a worker sends it."))
    return redirect("dashboard:outbox")


@staff_member_required(login_url="dashboard:login")
def outbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(OutboxMessage, pk=pk)
    parsed = message.parsed()
    return render(
        request,
        "dashboard/outbox/message.html",
        {
            "message": message,
            "headers": list(parsed.items()),
            "text": message.body("plain"),
            "has_html": bool(message.body("html")),
        },
    )


@staff_member_required(login_url="dashboard:login")
@xframe_options_sameorigin
@csp_replace(MAIL_PREVIEW_POLICY)
def outbox_message_html(request: HttpRequest, pk: int) -> HttpResponse:
    """The HTML part alone, for a sandboxed iframe: mail HTML never runs script here."""
    message = get_object_or_404(OutboxMessage, pk=pk)
    return HttpResponse(message.body("html"), content_type="text/html; charset=utf-8")
