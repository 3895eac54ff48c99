"""Dashboard pages under /dashboard/n/<slug>/automations/: build, start, pause, resume
and read an automation. Views parse input, call a service and render; viewers read,
editors change (``newsletter.access.member_required``)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from newsletter.access import member_required
from newsletter.forms import add_service_errors
from newsletter.models import Newsletter, Role

from . import selectors, services
from .forms import AutomationForm, StepForm
from .models import Automation, Step, StepKind
from .services import AutomationStateError


def _automation(newsletter: Newsletter, pk: int) -> Automation:
    return get_object_or_404(Automation, newsletter=newsletter, pk=pk)


def _step(automation: Automation, step_pk: int, *, removed: bool = False) -> Step:
    """One of the automation's steps; removed ones only when asked for."""
    steps = Step.objects.select_related("campaign").filter(automation=automation)
    if not removed:
        steps = steps.filter(removed_at__isnull=True)
    return get_object_or_404(steps, pk=step_pk)


def _back(automation: Automation):
    return redirect(
        "dashboard:automation_detail", slug=automation.newsletter.slug, pk=automation.pk
    )


@member_required(Role.VIEWER)
def automation_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    return render(
        request,
        "automations/automation_list.html",
        {
            "newsletter": newsletter,
            "automations": selectors.automations_of(newsletter),
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
    )


@member_required(Role.EDITOR)
def automation_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = AutomationForm(request.POST or None, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            automation = services.automation_create(
                newsletter=newsletter, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Automation created. Now add its steps."))
            return _back(automation)
    return render(
        request,
        "automations/automation_form.html",
        {"newsletter": newsletter, "form": form, "automation": None},
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def automation_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    automation = _automation(newsletter, pk)
    form = AutomationForm(request.POST or None, newsletter=newsletter, automation=automation)
    if request.method == "POST" and form.is_valid():
        try:
            services.automation_update(automation=automation, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Automation saved."))
            return _back(automation)
    return render(
        request,
        "automations/automation_form.html",
        {"newsletter": newsletter, "form": form, "automation": automation},
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def automation_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    automation = _automation(newsletter, pk)
    return render(
        request,
        "automations/automation_detail.html",
        {
            "newsletter": newsletter,
            "automation": automation,
            "report": selectors.automation_report(automation),
            "step_kinds": StepKind.choices,
            "can_edit": Role.includes(request.role, Role.EDITOR),
        },
    )


STATUS_CHANGES = {
    "activate": (services.automation_activate, gettext_lazy("Automation started.")),
    "pause": (
        services.automation_pause,
        gettext_lazy("Automation paused: nobody moves on until you resume it."),
    ),
    "resume": (
        services.automation_resume,
        gettext_lazy("Automation resumed: everyone goes on from where they are."),
    ),
}


@require_POST
@member_required(Role.EDITOR)
def automation_status(
    request: HttpRequest, newsletter: Newsletter, pk: int, action: str
) -> HttpResponse:
    automation = _automation(newsletter, pk)
    if action not in STATUS_CHANGES:
        raise Http404
    change, done = STATUS_CHANGES[action]
    try:
        change(automation=automation)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except AutomationStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return _back(automation)


@member_required(Role.EDITOR)
def automation_delete(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A page that asks first; only the button's POST deletes (``confirm=yes``)."""
    automation = _automation(newsletter, pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.automation_delete(automation=automation)
        except AutomationStateError as error:
            messages.error(request, str(error))
            return _back(automation)
        messages.success(request, _("Automation deleted."))
        return redirect("dashboard:automation_list", slug=newsletter.slug)
    return render(
        request,
        "automations/automation_delete.html",
        {"newsletter": newsletter, "automation": automation},
    )


@member_required(Role.EDITOR)
def step_create(request: HttpRequest, newsletter: Newsletter, pk: int, kind: str) -> HttpResponse:
    automation = _automation(newsletter, pk)
    if kind not in StepKind.values:
        raise Http404
    form = StepForm(request.POST or None, kind=kind, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            services.step_add(automation=automation, spec=form.spec(), created_by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Step added."))
            return _back(automation)
    return _step_page(request, newsletter, automation, form, None)


@member_required(Role.EDITOR)
def step_edit(request: HttpRequest, newsletter: Newsletter, pk: int, step_pk: int) -> HttpResponse:
    automation = _automation(newsletter, pk)
    step = _step(automation, step_pk)
    form = StepForm(
        request.POST or None,
        kind=step.kind,
        newsletter=newsletter,
        initial=StepForm.initial_for(step),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.step_update(step=step, spec=form.spec())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Step saved."))
            return _back(automation)
    return _step_page(request, newsletter, automation, form, step)


def _step_page(request, newsletter, automation, form, step) -> HttpResponse:
    return render(
        request,
        "automations/step_form.html",
        {
            "newsletter": newsletter,
            "automation": automation,
            "form": form,
            "step": step,
            "kind_label": StepKind(form.kind).label,
        },
        status=422 if form.errors else 200,
    )


@require_POST
@member_required(Role.EDITOR)
def step_remove(
    request: HttpRequest, newsletter: Newsletter, pk: int, step_pk: int
) -> HttpResponse:
    automation = _automation(newsletter, pk)
    step = _step(automation, step_pk, removed=True)
    if step.removed_at is None:
        services.step_remove(step=step)
    messages.success(request, _("Step removed; anyone on it goes on to the next step."))
    return _back(automation)


@require_POST
@member_required(Role.EDITOR)
def step_move(request: HttpRequest, newsletter: Newsletter, pk: int, step_pk: int) -> HttpResponse:
    automation = _automation(newsletter, pk)
    services.step_move(step=_step(automation, step_pk), up=request.POST.get("direction") == "up")
    return _back(automation)
