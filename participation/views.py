"""Public pages: consultations and their answer links, open calls, goals, forwarding,
the transparency page, and the goals' webhook.

Signed-link views are exempt from CSRF, as in subscribers: they use no session,
and the token in the URL is the only authority. A GET never records anything: a
link scanner that follows an answer link sees the page and its button, and only
the button's POST records the answer.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from campaigns.models import Campaign, Status
from campaigns.selectors import public_archive
from newsletter import ratelimit
from newsletter.forms import add_service_errors
from newsletter.http import client_ip
from newsletter.models import Newsletter
from subscribers import proof_of_work
from subscribers import tokens as subscriber_tokens
from subscribers.forms import SubscribeForm
from subscribers.ledger import Evidence
from subscribers.models import Subscriber
from subscribers.selectors import subscribers_of
from subscribers.services import referrer_for
from tracking.agents import MACHINES, classify

from . import selectors, tasks, tokens
from .forms import AnswerForm, AnswerLinkForm, ReferralSettingsForm, SubmissionForm
from .models import Call, Consultation, Goal, QuestionKind, Submission, SubmissionStatus
from .services import calls, consultations, goals, referrals

logger = logging.getLogger(__name__)


def _newsletter(slug: str) -> Newsletter:
    return get_object_or_404(Newsletter, slug=slug)


def _evidence(request: HttpRequest) -> Evidence:
    return Evidence(
        ip_address=client_ip(request) or None, user_agent=request.headers.get("User-Agent", "")
    )


def _rate_limited(request: HttpRequest, scope: str, limit: int) -> bool:
    return not ratelimit.hit(scope, client_ip(request), limit=limit, window_seconds=3600)


def _problem(request, newsletter, title: str, message: str, status: int, link=None):
    """A clear page for a link or input that cannot be used, with where to go instead."""
    return render(
        request,
        "participation/public/problem.html",
        {"newsletter": newsletter, "title": title, "message": message, "link": link},
        status=status,
    )


# Consultations


def _consultation(newsletter: Newsletter, slug: str) -> Consultation:
    return get_object_or_404(
        Consultation.objects.select_related("newsletter"), newsletter=newsletter, slug=slug
    )


@require_safe
def consultation(request: HttpRequest, newsletter: str, consultation: str) -> HttpResponse:
    """The questions, how to answer (from one's own link), and the results if public."""
    found_newsletter = _newsletter(newsletter)
    found = _consultation(found_newsletter, consultation)
    return _consultation_page(request, found, AnswerLinkForm())


def _consultation_page(request, consultation: Consultation, form, status: int = 200, sent=False):
    return render(
        request,
        "participation/public/consultation.html",
        {
            "newsletter": consultation.newsletter,
            "consultation": consultation,
            "questions": consultation.questions.prefetch_related("choices"),
            "results": (
                selectors.results(consultation, public=True)
                if consultation.public_results
                else None
            ),
            "form": form,
            "sent": sent,
            "chosen": request.GET.get("c", ""),
        },
        status=status,
    )


@require_POST
def consultation_link(request: HttpRequest, newsletter: str, consultation: str) -> HttpResponse:
    """Mail a subscriber their own answer link. The same answer whatever the address,
    so the form tells nobody who subscribes; the lookup stays inside this newsletter."""
    found_newsletter = _newsletter(newsletter)
    found = _consultation(found_newsletter, consultation)
    if _rate_limited(request, "answer-link", settings.ANSWER_LINK_REQUESTS_PER_IP_PER_HOUR):
        return _problem(
            request,
            found_newsletter,
            translation.gettext("Too many requests"),
            translation.gettext("Too many links were asked from here. Try again in an hour."),
            429,
        )
    form = AnswerLinkForm(request.POST)
    if form.is_bot:
        return _consultation_page(request, found, AnswerLinkForm(), sent=True)
    if not form.is_valid():
        return _consultation_page(request, found, form, status=422)
    if not found.is_open:
        return _consultation_page(request, found, form, status=410)
    person = subscribers_of(found_newsletter, email=form.cleaned_data["email"]).values("pk").first()
    if person is not None and ratelimit.hit(
        "answer-link-address", f"{found.pk}:{person['pk']}", limit=3, window_seconds=3600
    ):
        tasks.send_answer_link.delay_on_commit(found.pk, person["pk"])
    return _consultation_page(request, found, AnswerLinkForm(), sent=True)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, newsletter: str, consultation: str, token: str) -> HttpResponse:
    """GET: the question with the tapped option chosen, a comment box and a button.
    POST (the button): record the answer, or change it; the same answer twice records once."""
    found_newsletter = _newsletter(newsletter)
    found = _consultation(found_newsletter, consultation)
    if token == tokens.NOBODY:
        # A preview's, a test's or the archive's link: nobody to answer as.
        url = found.get_absolute_url()
        if request.GET.get("c", "").isdecimal():
            url += f"?c={request.GET['c']}"
        return HttpResponseRedirect(url + "#questions")
    try:
        claim = tokens.read_answer_token(token)
    except tokens.InvalidToken:
        return _problem(
            request,
            found_newsletter,
            translation.gettext("This link does not work"),
            translation.gettext(
                "It may have been cut or changed when it was copied. Open it again from the "
                "email, or copy the whole address."
            ),
            400,
            link=found.get_absolute_url(),
        )
    if claim.consultation_id != found.pk:
        return _problem(
            request,
            found_newsletter,
            translation.gettext("This link is for another consultation"),
            translation.gettext(
                "It was made for a question in another mail. Use the link under the question "
                "you want to answer."
            ),
            404,
            link=found.get_absolute_url(),
        )
    person = selectors.reader(found_newsletter, claim.subscriber_id)
    if person is None:
        return _problem(
            request,
            found_newsletter,
            translation.gettext("This link does not work"),
            translation.gettext("It belongs to nobody who receives this newsletter any more."),
            404,
        )
    if person.language:
        translation.activate(person.language)
    questions = list(found.questions.prefetch_related("choices"))
    question = _question(questions, request)
    if question is None:
        return _problem(
            request,
            found_newsletter,
            translation.gettext("There is no such question"),
            translation.gettext("This consultation has no question with this number."),
            404,
            link=found.get_absolute_url(),
        )
    digest = tokens.respondent(question.pk, claim.subscriber_id)
    current = question.answer_rows.filter(respondent=digest).first()
    context = {
        "newsletter": found_newsletter,
        "consultation": found,
        "question": question,
        "others": [other for other in questions if other.pk != question.pk],
        "current": current,
        "token": token,
    }
    if not found.is_open:
        context["results"] = selectors.results(found, public=True) if found.public_results else None
        return render(request, "participation/public/closed.html", context, status=410)
    if request.method == "GET":
        form = AnswerForm(question=question, initial=_initial(request, question, current))
        return render(request, "participation/public/answer.html", {**context, "form": form})
    form = AnswerForm(request.POST, question=question)
    if form.is_valid():
        chosen, text = form.chosen()
        try:
            recorded = consultations.answer_record(
                consultation=found,
                subscriber_id=claim.subscriber_id,
                question=question,
                choices=chosen,
                text=text,
                comment=form.cleaned_data["comment"],
            )
        except consultations.ConsultationClosed:
            return render(request, "participation/public/closed.html", context, status=410)
        except ValidationError as error:
            add_service_errors(form, _on_answer(error))
        else:
            return render(
                request,
                "participation/public/answered.html",
                {**context, "recorded": recorded, "results_public": found.public_results},
            )
    return render(
        request, "participation/public/answer.html", {**context, "form": form}, status=422
    )


def _on_answer(error: ValidationError) -> ValidationError:
    """The service names "choice" and "text"; the form has one "answer" field."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError(
        {
            ("answer" if field in ("choice", "text") else field): messages
            for field, messages in error.error_dict.items()
        }
    )


def _question(questions: list, request: HttpRequest):
    wanted = request.POST.get("q") or request.GET.get("q") or ""
    if not wanted:
        return questions[0] if questions else None
    if not wanted.isdecimal():
        return None
    return next((question for question in questions if question.pk == int(wanted)), None)


def _initial(request: HttpRequest, question, current) -> dict:
    """What the reader answered before, with the option they just tapped in the mail."""
    initial = {}
    if current is not None:
        initial["comment"] = current.comment
        values = [str(pk) for pk in current.choices]
        if question.kind == QuestionKind.TEXT:
            initial["answer"] = current.text
        elif question.kind == QuestionKind.MULTIPLE:
            initial["answer"] = values
        elif values:
            initial["answer"] = values[0]
    tapped = request.GET.get("c", "")
    if tapped.isdecimal() and question.kind != QuestionKind.TEXT:
        if question.kind == QuestionKind.MULTIPLE:
            initial["answer"] = list(dict.fromkeys([*initial.get("answer", []), tapped]))
        else:
            initial["answer"] = tapped
    return initial


# Open calls


def _call(newsletter: Newsletter, slug: str) -> Call:
    return get_object_or_404(
        Call.objects.select_related("newsletter"), newsletter=newsletter, slug=slug
    )


def _call_page(request, call: Call, form, status: int = 200) -> HttpResponse:
    return render(
        request,
        "participation/public/call.html",
        {
            "newsletter": call.newsletter,
            "call": call,
            "form": form,
            "challenge": proof_of_work.new_challenge() if call.require_proof_of_work else None,
            "text_max": settings.CALL_TEXT_MAX_CHARS,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def call(request: HttpRequest, newsletter: str, call: str) -> HttpResponse:
    """The call and its form; a submission after the deadline gets a clear 410 page."""
    found = _call(_newsletter(newsletter), call)
    if request.method == "GET":
        return _call_page(request, found, SubmissionForm(call=found), status=200)
    if not found.is_open:
        return render(
            request,
            "participation/public/call_closed.html",
            {"newsletter": found.newsletter, "call": found},
            status=410,
        )
    if _rate_limited(request, "call-submission", settings.CALL_SUBMISSIONS_PER_IP_PER_HOUR):
        return _problem(
            request,
            found.newsletter,
            translation.gettext("Too many submissions"),
            translation.gettext(
                "Too many contributions were sent from here. Try again in an hour."
            ),
            429,
        )
    form = SubmissionForm(request.POST, call=found)
    if form.is_bot:
        return render(
            request,
            "participation/public/submitted.html",
            {"newsletter": found.newsletter, "call": found},
        )
    if form.is_valid():
        data = form.cleaned_data
        try:
            calls.submission_create(
                call=found,
                title=data["title"],
                link=data["link"],
                text=data["text"],
                credit_name=data["credit_name"],
                email=data["email"],
                notify_on_publish=data["notify_on_publish"],
                consent=data["consent"],
                evidence=_evidence(request),
            )
        except calls.CallClosed:
            return render(
                request,
                "participation/public/call_closed.html",
                {"newsletter": found.newsletter, "call": found},
                status=410,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return render(
                request,
                "participation/public/submitted.html",
                {"newsletter": found.newsletter, "call": found},
            )
    return _call_page(request, found, form, status=422)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def submission_edit(request: HttpRequest, newsletter: str, call: str, token: str) -> HttpResponse:
    """The contributor's edit after the editors asked for a change (signed, expiring link)."""
    found = _call(_newsletter(newsletter), call)
    try:
        submission_id, revision = tokens.read_submission_token(token)
    except tokens.ExpiredToken:
        return _problem(
            request,
            found.newsletter,
            translation.gettext("This link has expired"),
            translation.gettext("Edit links work for 30 days. Send your contribution again."),
            410,
            link=found.get_absolute_url(),
        )
    except tokens.InvalidToken:
        return _problem(
            request,
            found.newsletter,
            translation.gettext("This link does not work"),
            translation.gettext("It may have been cut when it was copied."),
            400,
        )
    submission = get_object_or_404(Submission, pk=submission_id, call=found)
    if submission.revision != revision or submission.status != SubmissionStatus.CHANGES_REQUESTED:
        return _problem(
            request,
            found.newsletter,
            translation.gettext("This link was used already"),
            translation.gettext("Your edit reached the editors; they will come back to you."),
            410,
        )
    context = {"newsletter": found.newsletter, "call": found, "submission": submission}
    if request.method == "GET":
        form = SubmissionForm(
            call=found,
            edit=True,
            initial={
                "title": submission.title,
                "link": submission.link,
                "text": submission.text,
                "credit_name": submission.credit_name,
            },
        )
        return render(
            request, "participation/public/submission_edit.html", {**context, "form": form}
        )
    form = SubmissionForm(request.POST, call=found, edit=True)
    if form.is_valid():
        data = form.cleaned_data
        try:
            calls.submission_revise(
                submission=submission,
                revision=revision,
                title=data["title"],
                link=data["link"],
                text=data["text"],
                credit_name=data["credit_name"],
                consent=data["consent"],
                evidence=_evidence(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return render(request, "participation/public/submitted.html", context)
    return render(
        request, "participation/public/submission_edit.html", {**context, "form": form}, status=422
    )


# Goals


def _goal(newsletter: Newsletter, slug: str) -> Goal:
    return get_object_or_404(
        Goal.objects.select_related("newsletter"), newsletter=newsletter, slug=slug
    )


@require_safe
def goal(request: HttpRequest, newsletter: str, goal: str) -> HttpResponse:
    found = _goal(_newsletter(newsletter), goal)
    return render(
        request, "participation/public/goal.html", {"newsletter": found.newsletter, "goal": found}
    )


@require_safe
@never_cache
def goal_cta(request: HttpRequest, newsletter: str, goal: str) -> HttpResponse:
    """The call to action: counted (in aggregate, people only), then on to its page."""
    found = _goal(_newsletter(newsletter), goal)
    try:
        goals.goal_cta_click(
            goal=found, machine=classify(request.headers.get("User-Agent", "")) in MACHINES
        )
    except Exception:  # the count matters less than the supporter reaching the page
        logger.exception("goal click not counted")
    return HttpResponseRedirect(found.cta_url)


@csrf_exempt
@require_POST
def goal_webhook(request: HttpRequest, key: str) -> HttpResponse:
    """A donation platform's report of progress, signed with the goal's secret."""
    try:
        found, update = goals.goal_webhook_receive(
            key=key, body=request.body, signature=request.headers.get("Crier-Signature", "")
        )
    except Goal.DoesNotExist:
        return JsonResponse({"detail": "No goal has this webhook address."}, status=404)
    except goals.SignatureRefused:
        return JsonResponse(
            {"detail": "The Crier-Signature header is missing, wrong or more than 5 minutes old."},
            status=401,
        )
    except ValidationError as error:
        return JsonResponse({"detail": "Invalid input.", "errors": error.message_dict}, status=422)
    if update is None:
        return JsonResponse({"detail": "Already applied.", "total": str(found.current)})
    return JsonResponse({"detail": "Applied.", "total": str(update.total)}, status=201)


# Forwarding and referrals


@require_safe
def forward(request: HttpRequest, newsletter: str, campaign: str) -> HttpResponse:
    """What a reader's "forward to a friend" link opens: it sends nothing on their behalf
    and shows none of their links, only the web version (if public) and the subscribe
    form, which carries their referral code and nothing else of theirs."""
    found_newsletter = _newsletter(newsletter)
    issue = get_object_or_404(
        Campaign.objects.filter(newsletter=found_newsletter, status=Status.SENT), slug=campaign
    )
    form = SubscribeForm(newsletter=found_newsletter)
    code = request.GET.get("ref", "").strip()
    if code:
        form.referrer = referrer_for(newsletter=found_newsletter, code=code)
        if form.referrer is not None:
            form.initial["ref"] = code
    web_version = public_archive(found_newsletter).filter(pk=issue.pk).exists()
    return render(
        request,
        "participation/public/forward.html",
        {
            "newsletter": found_newsletter,
            "campaign": issue,
            "web_version": issue.get_public_url() if web_version else "",
            "form": form,
            "challenge": (
                proof_of_work.new_challenge() if found_newsletter.require_proof_of_work else None
            ),
        },
    )


@csrf_exempt
@require_POST
def referral_settings(request: HttpRequest, newsletter: str, token: str) -> HttpResponse:
    """The preference center's referral choices (signed like the preference center)."""
    found_newsletter = _newsletter(newsletter)
    try:
        claim = subscriber_tokens.read_preferences_token(token)
    except (subscriber_tokens.InvalidToken, subscriber_tokens.ExpiredToken):
        return render(request, "subscribers/invalid_link.html", status=400)
    if claim.newsletter_id != found_newsletter.pk:
        raise Http404
    subscriber = get_object_or_404(Subscriber, pk=claim.subscriber_id)
    form = ReferralSettingsForm(request.POST)
    back = reverse("subscribers:preferences", kwargs={"token": token})
    if not form.is_valid():
        return _problem(
            request,
            found_newsletter,
            translation.gettext("Give the name to show"),
            translation.gettext("To be shown among the top referrers, give the name to show."),
            422,
            link=back,
        )
    referrals.referrer_profile_update(
        newsletter=found_newsletter,
        subscriber=subscriber,
        show_publicly=form.cleaned_data["show_publicly"],
        display_name=form.cleaned_data["display_name"],
    )
    return redirect(f"{back}#referrals")


# Transparency


@require_safe
def transparency(request: HttpRequest, newsletter: str) -> HttpResponse:
    """The newsletter's figures, when its owners publish them; 404 otherwise."""
    found = _newsletter(newsletter)
    page = selectors.transparency_page(found)
    if page is None:
        raise Http404
    return render(
        request,
        "participation/public/transparency.html",
        {"newsletter": found, "page": page, "audience_chart": page.audience_chart()},
    )
