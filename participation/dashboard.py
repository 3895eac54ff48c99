"""Dashboard pages under /dashboard/n/<slug>/participation/ (and settings/participation/).

Views parse input, call a service and render; viewers read, editors change, owners
choose the newsletter's settings (``newsletter.access.member_required``).
"""

import csv
import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from campaigns.models import Status
from newsletter.access import member_required
from newsletter.forms import add_service_errors
from newsletter.links import absolute_url
from newsletter.models import Newsletter, Role
from subscribers.exporting import escape_cell

from . import selectors, tokens
from .blocks import format_amount
from .forms import (
    CallForm,
    ConsultationForm,
    GoalForm,
    InsertForm,
    ModerationForm,
    ParticipationSettingsForm,
    ProgressForm,
    QuestionForm,
)
from .models import (
    Call,
    Consultation,
    Goal,
    GoalUpdateSource,
    ParticipationSettings,
    Submission,
    SubmissionStatus,
)
from .services import calls, consultations, goals, transparency


def _can_edit(request: HttpRequest) -> bool:
    return Role.includes(request.role, Role.EDITOR)


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


@member_required(Role.VIEWER)
def overview(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Consultations, open calls, goals, referrals and the transparency page at a glance."""
    found = ParticipationSettings.objects.filter(newsletter=newsletter).first()
    return render(
        request,
        "participation/dashboard/overview.html",
        {
            "newsletter": newsletter,
            "consultations": selectors.consultations_of(newsletter),
            "calls": selectors.calls_of(newsletter),
            "goals": selectors.goals_of(newsletter),
            "referrals": selectors.referral_stats(newsletter),
            "settings": found,
            "can_edit": _can_edit(request),
            "is_owner": Role.includes(request.role, Role.OWNER),
        },
    )


# Consultations


def _consultation(newsletter: Newsletter, pk: int) -> Consultation:
    return get_object_or_404(
        Consultation.objects.select_related("newsletter"), newsletter=newsletter, pk=pk
    )


@member_required(Role.EDITOR)
def consultation_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = ConsultationForm(request.POST or None, newsletter=newsletter, with_question=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            consultation = consultations.consultation_create(
                newsletter=newsletter,
                created_by=request.user,
                title=data["title"],
                slug=data["slug"],
                description=data["description"],
                public_results=data["public_results"],
                closes_at=data["closes_at"],
                questions=[form.question_spec()],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Consultation created."))
            return redirect(
                "dashboard:consultation_detail", slug=newsletter.slug, pk=consultation.pk
            )
    return render(
        request,
        "participation/dashboard/consultation_form.html",
        {"newsletter": newsletter, "form": form, "consultation": None},
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def consultation_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    consultation = _consultation(newsletter, pk)
    form = ConsultationForm(request.POST or None, instance=consultation, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            consultations.consultation_update(
                consultation=consultation,
                title=data["title"],
                slug=data["slug"],
                description=data["description"],
                public_results=data["public_results"],
                closes_at=data["closes_at"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Consultation saved."))
            return redirect("dashboard:consultation_detail", slug=newsletter.slug, pk=pk)
    return render(
        request,
        "participation/dashboard/consultation_form.html",
        {"newsletter": newsletter, "form": form, "consultation": consultation},
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def consultation_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    consultation = _consultation(newsletter, pk)
    return _consultation_page(request, newsletter, consultation, QuestionForm())


def _consultation_page(request, newsletter, consultation, question_form, status=200):
    results = selectors.results(consultation, public=False)
    return render(
        request,
        "participation/dashboard/consultation_detail.html",
        {
            "newsletter": newsletter,
            "consultation": consultation,
            "results": results,
            "results_section": {
                "newsletter": newsletter,
                "consultation": consultation,
                "results": results,
                "in_report": False,
            },
            "question_form": question_form,
            "public_url": absolute_url(
                "participation:consultation",
                newsletter=newsletter.slug,
                consultation=consultation.slug,
            ),
            "can_edit": _can_edit(request),
        },
        status=status,
    )


@require_POST
@member_required(Role.EDITOR)
def question_add(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    consultation = _consultation(newsletter, pk)
    form = QuestionForm(request.POST)
    if form.is_valid():
        try:
            consultations.question_add(consultation=consultation, spec=form.spec())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Question added."))
            return redirect("dashboard:consultation_detail", slug=newsletter.slug, pk=pk)
    return _consultation_page(request, newsletter, consultation, form, status=422)


@require_POST
@member_required(Role.EDITOR)
def question_remove(
    request: HttpRequest, newsletter: Newsletter, pk: int, question: int
) -> HttpResponse:
    consultation = _consultation(newsletter, pk)
    found = get_object_or_404(consultation.questions, pk=question)
    try:
        consultations.question_remove(question=found)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Question removed."))
    return redirect("dashboard:consultation_detail", slug=newsletter.slug, pk=pk)


@require_POST
@member_required(Role.EDITOR)
def consultation_close(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    consultations.consultation_close(consultation=_consultation(newsletter, pk))
    messages.success(request, _("Consultation closed: answers are no longer taken."))
    return redirect("dashboard:consultation_detail", slug=newsletter.slug, pk=pk)


@member_required(Role.VIEWER)
def consultation_csv(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Counts and shares per option, then the comments and free-text answers; no one's
    name or address (there is none to give under the aggregate policy)."""
    consultation = _consultation(newsletter, pk)
    response = HttpResponse(results_csv(consultation), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{newsletter.slug}-{consultation.slug}-results.csv"'
    )
    return response


def results_csv(consultation: Consultation) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    found = selectors.results(consultation, public=False, texts_limit=100_000)
    writer.writerow(["question", "kind", "respondents", "option", "count", "percent"])
    for result in found:
        question = result.question
        for choice in result.choices:
            writer.writerow(
                [
                    escape_cell(question.prompt),
                    question.kind,
                    result.respondents,
                    escape_cell(choice.label),
                    choice.count,
                    choice.percent,
                ]
            )
        if not result.choices:
            writer.writerow([escape_cell(question.prompt), question.kind, result.respondents])
    writer.writerow([])
    writer.writerow(["question", "kind", "text"])
    for result in found:
        for text in result.texts:
            writer.writerow([escape_cell(result.question.prompt), "answer", escape_cell(text)])
        for comment in result.comments:
            writer.writerow([escape_cell(result.question.prompt), "comment", escape_cell(comment)])
    return out.getvalue()


# Open calls


def _call(newsletter: Newsletter, pk: int) -> Call:
    return get_object_or_404(
        Call.objects.select_related("newsletter"), newsletter=newsletter, pk=pk
    )


def _call_fields(data: dict) -> dict:
    return {
        "title": data["title"],
        "slug": data["slug"],
        "description": data["description"],
        "closes_at": data["closes_at"],
        "consent_text": data["consent_text"],
        "require_proof_of_work": data["require_proof_of_work"],
    }


@member_required(Role.EDITOR)
def call_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = CallForm(request.POST or None, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            found = calls.call_create(
                newsletter=newsletter, created_by=request.user, **_call_fields(form.cleaned_data)
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Open call created; its page is public."))
            return redirect("dashboard:call_detail", slug=newsletter.slug, pk=found.pk)
    return render(
        request,
        "participation/dashboard/call_form.html",
        {"newsletter": newsletter, "form": form, "call": None},
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def call_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    found = _call(newsletter, pk)
    form = CallForm(request.POST or None, instance=found, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            calls.call_update(call=found, **_call_fields(form.cleaned_data))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Open call saved."))
            return redirect("dashboard:call_detail", slug=newsletter.slug, pk=pk)
    return render(
        request,
        "participation/dashboard/call_form.html",
        {"newsletter": newsletter, "form": form, "call": found},
        status=422 if form.errors else 200,
    )


def _drafts(newsletter: Newsletter):
    return (
        newsletter.campaigns.filter(status=Status.DRAFT)
        .only("name", "status")
        .order_by("-updated_at")
    )


@member_required(Role.VIEWER)
def call_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """The submissions, waiting ones first, each with the moderation buttons."""
    found = _call(newsletter, pk)
    submissions = list(found.submissions.select_related("campaign", "moderated_by"))
    order = [
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.ACCEPTED,
        SubmissionStatus.CHANGES_REQUESTED,
        SubmissionStatus.PUBLISHED,
        SubmissionStatus.REJECTED,
    ]
    groups = [(status, [s for s in submissions if s.status == status]) for status in order]
    waiting = [
        s for s in submissions if s.status == SubmissionStatus.ACCEPTED and s.campaign_id is None
    ]
    return render(
        request,
        "participation/dashboard/call_detail.html",
        {
            "newsletter": newsletter,
            "call": found,
            "groups": [(SubmissionStatus(status).label, status, items) for status, items in groups],
            "waiting": waiting,
            "total": len(submissions),
            "insert_form": InsertForm(drafts=_drafts(newsletter)),
            "public_url": absolute_url(
                "participation:call", newsletter=newsletter.slug, call=found.slug
            ),
            "can_edit": _can_edit(request),
        },
    )


@require_POST
@member_required(Role.EDITOR)
def call_close(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    calls.call_close(call=_call(newsletter, pk))
    messages.success(request, _("Open call closed: its form no longer takes contributions."))
    return redirect("dashboard:call_detail", slug=newsletter.slug, pk=pk)


@require_POST
@member_required(Role.EDITOR)
def call_insert(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Put the accepted contributions into a draft, credited; then show the draft."""
    found = _call(newsletter, pk)
    form = InsertForm(request.POST, drafts=_drafts(newsletter))
    if not form.is_valid():
        messages.error(request, _("Choose a draft campaign."))
        return redirect("dashboard:call_detail", slug=newsletter.slug, pk=pk)
    campaign = form.chosen()
    try:
        count = calls.submissions_insert(call=found, campaign=campaign, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("dashboard:call_detail", slug=newsletter.slug, pk=pk)
    messages.success(
        request,
        ngettext(
            "%(count)s contribution added at the end of “%(campaign)s”.",
            "%(count)s contributions added at the end of “%(campaign)s”.",
            count,
        )
        % {"count": count, "campaign": campaign.name},
    )
    return redirect("dashboard:campaign_preview", slug=newsletter.slug, pk=campaign.pk)


MODERATIONS = {
    "accept": lambda submission, user, note: calls.submission_accept(
        submission=submission, user=user, note=note
    ),
    "reject": lambda submission, user, note: calls.submission_reject(
        submission=submission, user=user, note=note
    ),
    "changes": lambda submission, user, note: calls.submission_request_changes(
        submission=submission, user=user, note=note
    ),
    "take_out": lambda submission, user, note: calls.submission_take_out(submission=submission),
    "forget": lambda submission, user, note: calls.submission_forget(submission=submission),
}


@require_POST
@member_required(Role.EDITOR)
def submission_moderate(
    request: HttpRequest, newsletter: Newsletter, pk: int, submission: int
) -> HttpResponse:
    found = _call(newsletter, pk)
    item = get_object_or_404(Submission, call=found, pk=submission)
    form = ModerationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to do with the contribution."))
    else:
        action = form.cleaned_data["action"]
        try:
            MODERATIONS[action](item, request.user, form.cleaned_data["note"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("“%(title)s”: %(status)s.")
                % {"title": item.title, "status": _refreshed_status(item)},
            )
    found_url = reverse("dashboard:call_detail", kwargs={"slug": newsletter.slug, "pk": found.pk})
    return redirect(f"{found_url}#submission-{item.pk}")


def _refreshed_status(item: Submission) -> str:
    item.refresh_from_db(fields=["status", "campaign"])
    return item.get_status_display().lower()


# Goals


def _goal(newsletter: Newsletter, pk: int) -> Goal:
    return get_object_or_404(
        Goal.objects.select_related("newsletter"), newsletter=newsletter, pk=pk
    )


def _goal_fields(data: dict) -> dict:
    return {
        key: data[key]
        for key in (
            "title",
            "slug",
            "description",
            "kind",
            "currency",
            "target",
            "cta_label",
            "cta_url",
            "closes_at",
        )
    }


@member_required(Role.EDITOR)
def goal_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = GoalForm(request.POST or None, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            found = goals.goal_create(newsletter=newsletter, **_goal_fields(form.cleaned_data))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Goal created."))
            return redirect("dashboard:goal_detail", slug=newsletter.slug, pk=found.pk)
    return render(
        request,
        "participation/dashboard/goal_form.html",
        {"newsletter": newsletter, "form": form, "goal": None},
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def goal_edit(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    found = _goal(newsletter, pk)
    form = GoalForm(request.POST or None, instance=found, newsletter=newsletter)
    if request.method == "POST" and form.is_valid():
        try:
            goals.goal_update(goal=found, **_goal_fields(form.cleaned_data))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Goal saved."))
            return redirect("dashboard:goal_detail", slug=newsletter.slug, pk=pk)
    return render(
        request,
        "participation/dashboard/goal_form.html",
        {"newsletter": newsletter, "form": form, "goal": found},
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def goal_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    found = _goal(newsletter, pk)
    return _goal_page(request, newsletter, found, ProgressForm())


def _goal_page(request, newsletter, found: Goal, form, status=200):
    can_edit = _can_edit(request)
    return render(
        request,
        "participation/dashboard/goal_detail.html",
        {
            "newsletter": newsletter,
            "goal": found,
            "current": format_amount(found, found.current),
            "target": format_amount(found, found.target),
            "updates": found.updates.all()[:50],
            "form": form,
            "public_url": absolute_url(
                "participation:goal", newsletter=newsletter.slug, goal=found.slug
            ),
            "webhook_url": absolute_url(
                "participation_webhooks:goal_webhook", key=found.webhook_key
            ),
            # The secret signs progress reports: editors see it, viewers do not.
            "webhook_secret": (
                tokens.goal_webhook_secret(found.webhook_key, found.webhook_version)
                if can_edit
                else ""
            ),
            "can_edit": can_edit,
        },
        status=status,
    )


@require_POST
@member_required(Role.EDITOR)
def goal_progress(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    found = _goal(newsletter, pk)
    form = ProgressForm(request.POST)
    if form.is_valid():
        try:
            goals.goal_progress(
                goal=found,
                kind=form.cleaned_data["kind"],
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
                source=GoalUpdateSource.DASHBOARD,
                actor=_actor(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Progress recorded."))
            return redirect("dashboard:goal_detail", slug=newsletter.slug, pk=pk)
    found.refresh_from_db()
    return _goal_page(request, newsletter, found, form, status=422)


@require_POST
@member_required(Role.EDITOR)
def goal_webhook_rotate(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    goals.goal_webhook_rotate(goal=_goal(newsletter, pk))
    messages.success(request, _("New webhook secret: the old one no longer works."))
    return redirect("dashboard:goal_detail", slug=newsletter.slug, pk=pk)


# Referrals and settings


@member_required(Role.VIEWER)
def referrals(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    stats = selectors.referral_stats(newsletter)
    return render(
        request,
        "participation/dashboard/referrals.html",
        {"newsletter": newsletter, "stats": stats, "chart": stats.chart()},
    )


@member_required(Role.OWNER)
def participation_settings(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    found = ParticipationSettings.objects.filter(newsletter=newsletter).first()
    form = ParticipationSettingsForm(
        request.POST or None, instance=found or ParticipationSettings(newsletter=newsletter)
    )
    if request.method == "POST" and form.is_valid():
        transparency.settings_update(
            newsletter=newsletter,
            transparency_page=form.cleaned_data["transparency_page"],
            referral_thanks=form.cleaned_data["referral_thanks"],
        )
        messages.success(request, _("Settings saved."))
        return redirect("dashboard:settings_participation", slug=newsletter.slug)
    return render(
        request,
        "participation/dashboard/settings.html",
        {
            "newsletter": newsletter,
            "form": form,
            "stats_url": absolute_url("participation:stats", newsletter=newsletter.slug),
        },
        status=422 if form.errors else 200,
    )
