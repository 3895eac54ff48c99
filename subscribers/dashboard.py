"""Dashboard pages for lists, subscribers and imports (mounted by ``dashboard.urls``).

Views parse input, call ``services``, ``import_files`` or ``selectors``, and render.
Viewers read; editors add, unsubscribe, erase, import and export.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from newsletter.access import EXPORT_ROLE, member_required
from newsletter.forms import add_service_errors
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role

from . import bulk, bulk_jobs, extensions, import_files, ledger, personal_data, selectors, services
from .exporting import export_contacts, export_list
from .fields import FieldSchema
from .forms import (
    AddSubscriberForm,
    BulkAction,
    BulkScope,
    EraseForm,
    FieldValuesForm,
    ImportForm,
    ImportUploadForm,
    MailingListForm,
    SubscriberBulkForm,
    SubscriberFilterForm,
)
from .models import BulkJobStatus, ConsentSource, ImportStatus, MailingList, SubscriberStatus
from .standing import standings
from .tokens import Claim

PAGE_SIZE = 50
RECENT_IMPORTS = 5
RECENT_BULK_JOBS = 5
DELIVERIES_SHOWN = 50
PROBLEMS_SHOWN = 1000


def _actor(request: HttpRequest) -> str:
    """How the consent ledger names a maintainer acting in the dashboard."""
    return f"{request.user.get_username()} (dashboard)"


def _can_edit(request: HttpRequest) -> bool:
    return Role.includes(request.role, Role.EDITOR)


def _list(newsletter: Newsletter, slug: str) -> MailingList:
    return get_object_or_404(newsletter.lists, slug=slug)


# Lists


@member_required(Role.VIEWER)
def list_index(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    sizes = selectors.list_sizes(newsletter)
    every = [(mailing_list, sizes[mailing_list.pk]) for mailing_list in newsletter.lists.all()]
    lists = [(mailing_list, size) for mailing_list, size in every if not mailing_list.archived_at]
    archived = [(mailing_list, size) for mailing_list, size in every if mailing_list.archived_at]
    return render(
        request,
        "subscribers/dashboard/list_index.html",
        {
            "newsletter": newsletter,
            "lists": lists,
            "archived": archived,
            "approximate": any(size.approximate for _list, size in every),
            "imports": selectors.recent_imports(newsletter, limit=RECENT_IMPORTS),
            "can_edit": _can_edit(request),
        },
    )


@member_required(Role.EDITOR)
def list_create(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = MailingListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mailing_list = services.list_create(newsletter=newsletter, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("List “%(name)s” created.") % {"name": mailing_list.name})
            return redirect("dashboard:list_index", slug=newsletter.slug)
    return _list_form(request, newsletter, form, None)


@member_required(Role.EDITOR)
def list_edit(request: HttpRequest, newsletter: Newsletter, list_slug: str) -> HttpResponse:
    mailing_list = _list(newsletter, list_slug)
    form = MailingListForm(request.POST or None, instance=mailing_list)
    if request.method == "POST" and form.is_valid():
        try:
            services.list_update(
                mailing_list=newsletter.lists.get(pk=mailing_list.pk), **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("List saved."))
            return redirect("dashboard:list_index", slug=newsletter.slug)
    return _list_form(request, newsletter, form, mailing_list)


def _list_form(request, newsletter, form, mailing_list) -> HttpResponse:
    return render(
        request,
        "subscribers/dashboard/list_form.html",
        {"newsletter": newsletter, "form": form, "mailing_list": mailing_list},
        status=422 if form.errors else 200,
    )


@require_POST
@member_required(Role.EDITOR)
def list_archive(request: HttpRequest, newsletter: Newsletter, list_slug: str) -> HttpResponse:
    """Archive (``action=archive``) or bring back (``action=unarchive``) a list."""
    mailing_list = _list(newsletter, list_slug)
    if request.POST.get("action") == "unarchive":
        services.list_unarchive(mailing_list=mailing_list)
        messages.success(
            request, _("List “%(name)s” is back in use.") % {"name": mailing_list.name}
        )
    else:
        services.list_archive(mailing_list=mailing_list)
        messages.success(
            request,
            _(
                "List “%(name)s” archived: it is no longer offered nor sent to; its "
                "subscribers and consent records are kept."
            )
            % {"name": mailing_list.name},
        )
    return redirect("dashboard:list_index", slug=newsletter.slug)


@member_required(Role.EDITOR)
def list_delete(request: HttpRequest, newsletter: Newsletter, list_slug: str) -> HttpResponse:
    """A page that says what deleting would lose (then it offers to archive instead),
    or asks first; only the button's POST (``confirm=yes``) deletes."""
    mailing_list = _list(newsletter, list_slug)
    blockers = services.list_deletion_blockers(mailing_list)
    if request.method == "POST" and request.POST.get("confirm") == "yes" and not blockers:
        try:
            services.list_delete(mailing_list=mailing_list)
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(request, _("List “%(name)s” deleted.") % {"name": mailing_list.name})
        return redirect("dashboard:list_index", slug=newsletter.slug)
    return render(
        request,
        "subscribers/dashboard/list_delete.html",
        {"newsletter": newsletter, "mailing_list": mailing_list, "blockers": blockers},
        status=409 if request.method == "POST" and blockers else 200,
    )


def _open_list(request: HttpRequest, newsletter: Newsletter, slug: str) -> MailingList | None:
    """The list to import into, or None (with a message) when it is archived."""
    mailing_list = _list(newsletter, slug)
    if mailing_list.archived_at:
        messages.error(request, _("This list is archived: unarchive it to import into it."))
        return None
    return mailing_list


@member_required(EXPORT_ROLE)
def list_export(request: HttpRequest, newsletter: Newsletter, list_slug: str) -> HttpResponse:
    """The list as CSV, streamed row by row; cells that a spreadsheet would run are escaped."""
    mailing_list = _list(newsletter, list_slug)
    response = StreamingHttpResponse(export_list(mailing_list), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{newsletter.slug}-{mailing_list.slug}.csv"'
    )
    return response


# Subscribers


@member_required(Role.VIEWER)
def subscriber_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Search and filters, newest first, a page at a time by id, with how many match
    (counted up to a limit, estimated beyond) and, for editors, the bulk actions."""
    lists = list(newsletter.lists.all())
    form = SubscriberFilterForm(request.GET, lists=lists, newsletter=newsletter)
    page = matching = first = None
    standing = {}
    if form.is_valid():
        after, before = form.cleaned_data["after"], form.cleaned_data["before"]
        matches = selectors.subscribers_of(newsletter, **form.selector_filters())
        page = selectors.keyset_page(matches, after=after, before=before, size=PAGE_SIZE)
        matching = selectors.count_matching(matches)
        if page.items and not matching.approximate:
            first = matches.filter(pk__gt=page.items[0].pk).order_by().count() + 1
        standing = standings(newsletter, page.items)
    context = {
        "newsletter": newsletter,
        "form": form,
        "page": page,
        "rows": [(contact, standing[contact.pk]) for contact in page.items] if page else [],
        "matching": matching,
        "first": first,
        "last": first + len(page.items) - 1 if first else None,
        "query": _query_without_cursor(request),
        "filters": form.filter_query() if form.is_valid() else {},
        "bulk": SubscriberBulkForm(lists=[lst for lst in lists if not lst.archived_at]),
        "can_edit": _can_edit(request),
    }
    template = "subscribers/dashboard/_subscriber_results.html"
    if not is_htmx(request):
        template = "subscribers/dashboard/subscriber_list.html"
        context["bulk_jobs"] = selectors.recent_bulk_jobs(newsletter, limit=RECENT_BULK_JOBS)
    return render(request, template, context)


@require_POST
@member_required(Role.EDITOR)
def subscriber_bulk(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """A bulk action on the ticked people or on everyone the filters match; says what
    it did, or why it did nothing, back on the page with the same filters."""
    lists = list(newsletter.lists.all())
    filters = SubscriberFilterForm(request.POST, lists=lists, newsletter=newsletter)
    form = SubscriberBulkForm(request.POST, lists=[lst for lst in lists if not lst.archived_at])
    back = reverse("dashboard:subscriber_list", args=[newsletter.slug])
    if not filters.is_valid() or not form.is_valid():
        for bound in (filters, form):
            for field, errors in bound.errors.items():
                label = bound.fields[field].label if field in bound.fields else ""
                for error in errors:
                    messages.error(request, f"{label}: {error}" if label else error)
        return redirect(back)
    back = f"{back}?{urlencode(filters.filter_query())}" if filters.filter_query() else back
    contacts = selectors.subscribers_of(newsletter, **filters.selector_filters())
    if form.cleaned_data["scope"] == BulkScope.SELECTED:
        contacts = contacts.filter(pk__in=form.cleaned_data["ids"])
    action, target = form.cleaned_data["action"], form.target_list()
    if action == BulkAction.EXPORT:
        response = StreamingHttpResponse(export_contacts(contacts), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{newsletter.slug}-people.csv"'
        return response
    order = bulk.BulkRequest(
        newsletter=newsletter,
        action=action,
        mailing_list=target,
        attestation=form.cleaned_data["attestation"],
        actor=_actor(request),
    )
    try:
        if not bulk_jobs.runs_in_request(contacts):
            job = bulk_jobs.bulk_job_start(
                request=order,
                contacts=contacts,
                filters=filters.filter_query(),
                requested_by=request.user,
            )
            return redirect("dashboard:bulk_job_detail", slug=newsletter.slug, pk=job.pk)
        outcome = bulk.bulk_apply(request=order, contacts=contacts)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(back)
    messages.success(request, _bulk_summary(action, target, outcome))
    return redirect(back)


@member_required(Role.VIEWER)
def bulk_job_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Progress while the worker acts (htmx polls the panel), then what it did in words."""
    job = get_object_or_404(newsletter.bulk_jobs.select_related("mailing_list"), pk=pk)
    back = reverse("dashboard:subscriber_list", args=[newsletter.slug])
    context = {
        "newsletter": newsletter,
        "job": job,
        "summary": "",
        "back": f"{back}?{urlencode(job.filters)}" if job.filters else back,
    }
    if job.status == BulkJobStatus.DONE:
        outcome = bulk.BulkOutcome(changed=job.changed, already=job.already, skipped=job.skipped)
        context["summary"] = _bulk_summary(job.action, job.mailing_list, outcome)
    if is_htmx(request):
        return render(request, "subscribers/dashboard/_bulk_job_progress.html", context)
    return render(request, "subscribers/dashboard/bulk_job_detail.html", context)


def _bulk_summary(action: str, target: MailingList | None, outcome: bulk.BulkOutcome) -> str:
    """“12 people added to Contributors; 3 were already.”"""
    name = {"list": target.name if target else ""}
    if action == BulkAction.ADD:
        done = ngettext(
            "%(count)s person added to %(list)s",
            "%(count)s people added to %(list)s",
            outcome.changed,
        )
        already = ngettext("%(count)s was already", "%(count)s were already", outcome.already)
        skipped = ngettext(
            "%(count)s left, bounced or complained: only they can come back",
            "%(count)s left, bounced or complained: only they can come back",
            outcome.skipped,
        )
    elif action == BulkAction.REMOVE:
        done = ngettext(
            "%(count)s person removed from %(list)s",
            "%(count)s people removed from %(list)s",
            outcome.changed,
        )
        already = ngettext("%(count)s was not on it", "%(count)s were not on it", outcome.already)
        skipped = ""
    else:
        done = ngettext(
            "%(count)s person unsubscribed from all lists",
            "%(count)s people unsubscribed from all lists",
            outcome.changed,
        )
        already = ngettext("%(count)s was already", "%(count)s were already", outcome.already)
        skipped = ""
    parts = [done % {"count": outcome.changed, **name}]
    if outcome.already:
        parts.append(already % {"count": outcome.already})
    if outcome.skipped and skipped:
        parts.append(skipped % {"count": outcome.skipped})
    return "; ".join(parts) + "."


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    return query.urlencode()


@member_required(Role.EDITOR)
def subscriber_add(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = AddSubscriberForm(request.POST or None, lists=newsletter.lists.active())
    if request.method == "POST" and form.is_valid():
        attestation = form.cleaned_data["attestation"].strip()
        outcome = services.subscribe(
            newsletter=newsletter,
            email=form.cleaned_data["email"],
            name=form.cleaned_data["name"],
            lists=form.chosen_lists(),
            source=ConsentSource.DASHBOARD,
            wording=newsletter.consent_text,
            attestation=attestation,
            actor=_actor(request),
        )
        if outcome.subscriber is None:
            form.add_error(
                "email",
                _(
                    "This address is suppressed (it bounced, complained, was erased or "
                    "unsubscribed from everything): only the person can subscribe again."
                ),
            )
        else:
            if outcome.pending:
                messages.success(request, _("Added; a confirmation email is on its way."))
            else:
                messages.success(request, _("Added and confirmed on your attestation."))
            return redirect(
                "dashboard:subscriber_detail", slug=newsletter.slug, pk=outcome.subscriber.pk
            )
    return render(
        request,
        "subscribers/dashboard/subscriber_add.html",
        {"newsletter": newsletter, "form": form},
        status=422 if form.errors else 200,
    )


def _contact(newsletter: Newsletter, pk: int):
    """This newsletter's contact, or 404: another newsletter's is not found here."""
    contact = selectors.contact_of(newsletter, pk)
    if contact is None:
        raise Http404
    return contact


@member_required(Role.VIEWER)
def subscriber_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Who they are, their subscriptions here, the consent ledger and what was sent."""
    subscriber = _contact(newsletter, pk)
    return render(
        request,
        "subscribers/dashboard/subscriber_detail.html",
        {
            "newsletter": newsletter,
            "subscriber": subscriber,
            "standing": standings(newsletter, [subscriber])[subscriber.pk],
            "subscriptions": subscriber.subscriptions.all(),  # prefetched
            "events": selectors.consent_history(subscriber),
            "chain": ledger.verify_chain(subscriber),
            "deliveries": selectors.delivery_history(
                subscriber, newsletter, limit=DELIVERIES_SHOWN
            ),
            "can_edit": _can_edit(request),
            "field_form": _field_form(newsletter, subscriber),
            "erasable": subscriber.status != SubscriberStatus.ERASED,
            # What other apps hold about the person (answers, referrals).
            "facts": extensions.facts(subscriber, newsletter),
        },
    )


def _field_form(newsletter: Newsletter, subscriber, data=None) -> FieldValuesForm | None:
    definitions = list(newsletter.field_definitions.all())
    if not definitions or subscriber.status == SubscriberStatus.ERASED:
        return None
    initial = FieldValuesForm.initial_from(definitions, subscriber.attributes)
    return FieldValuesForm(data, definitions=definitions, initial=initial)


@require_POST
@member_required(Role.EDITOR)
def subscriber_fields(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Set the contact's custom field values (an empty one removes it), checked by type."""
    subscriber = _contact(newsletter, pk)
    form = _field_form(newsletter, subscriber, request.POST)
    if form is None:
        raise Http404
    if form.is_valid():
        try:
            services.update_subscriber(
                newsletter=newsletter, subscriber=subscriber, attributes=form.values()
            )
        except ValidationError as error:
            if not form.add_value_errors(error):
                raise
        else:
            messages.success(request, _("Fields saved."))
            return redirect("dashboard:subscriber_detail", slug=newsletter.slug, pk=subscriber.pk)
    messages.error(
        request,
        " ".join(
            f"{form.fields[name].label}: {' '.join(errs)}" for name, errs in form.errors.items()
        ),
    )
    return redirect("dashboard:subscriber_detail", slug=newsletter.slug, pk=subscriber.pk)


@require_POST
@member_required(Role.EDITOR)
def subscriber_unsubscribe(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """End one subscription (``list`` given) or all of this newsletter's, in the ledger."""
    subscriber = _contact(newsletter, pk)
    list_slug = request.POST.get("list", "")
    mailing_list = _list(newsletter, list_slug) if list_slug else None
    ended = services.unsubscribe(
        claim=Claim(subscriber.pk, newsletter.pk),
        source=ConsentSource.DASHBOARD,
        mailing_list=mailing_list,
        actor=_actor(request),
    )
    if ended:
        messages.success(request, _("Unsubscribed."))
    else:
        messages.info(request, _("There was nothing to unsubscribe from."))
    return redirect("dashboard:subscriber_detail", slug=newsletter.slug, pk=subscriber.pk)


@member_required(Role.EDITOR)
def subscriber_erase(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A page that asks to type the address, then erases this newsletter's contact: its
    data here, and a suppression here (other newsletters' contacts are theirs)."""
    subscriber = _contact(newsletter, pk)
    if subscriber.status == SubscriberStatus.ERASED:
        raise Http404
    form = EraseForm(request.POST or None, subscriber=subscriber)
    if request.method == "POST" and form.is_valid():
        personal_data.erase(
            claim=Claim(subscriber.pk, newsletter.pk),
            source=ConsentSource.DASHBOARD,
            actor=_actor(request),
        )
        messages.success(
            request,
            _(
                "Erased from this newsletter. Only a digest of the address remains, so "
                "this newsletter never mails it again."
            ),
        )
        return redirect("dashboard:subscriber_list", slug=newsletter.slug)
    return render(
        request,
        "subscribers/dashboard/subscriber_erase.html",
        {"newsletter": newsletter, "subscriber": subscriber, "form": form},
        status=422 if form.errors else 200,
    )


# Imports


@member_required(Role.EDITOR)
def import_upload(request: HttpRequest, newsletter: Newsletter, list_slug: str) -> HttpResponse:
    mailing_list = _open_list(request, newsletter, list_slug)
    if mailing_list is None:
        return redirect("dashboard:list_index", slug=newsletter.slug)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = import_files.store_upload(newsletter=newsletter, upload=form.cleaned_data["file"])
        return redirect(
            "dashboard:import_map", slug=newsletter.slug, list_slug=list_slug, token=token
        )
    return render(
        request,
        "subscribers/dashboard/import_upload.html",
        {"newsletter": newsletter, "mailing_list": mailing_list, "form": form},
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def import_map(
    request: HttpRequest, newsletter: Newsletter, list_slug: str, token: str
) -> HttpResponse:
    """Map the columns and state the consent; *Check* is a dry run, *Import* queues it."""
    mailing_list = _open_list(request, newsletter, list_slug)
    if mailing_list is None:
        return redirect("dashboard:list_index", slug=newsletter.slug)
    try:
        path = import_files.uploaded(newsletter, token)
        sample = import_files.sample(path)
    except FileNotFoundError:
        messages.error(request, _("That upload is gone; upload the file again."))
        return redirect("dashboard:import_upload", slug=newsletter.slug, list_slug=list_slug)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("dashboard:import_upload", slug=newsletter.slug, list_slug=list_slug)
    header = sample.header if sample.needs_mapping else None
    form = ImportForm(
        request.POST or None,
        header=header,
        initial_mapping=import_files.guess_mapping(sample.header),
    )
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("action") == "import":
                batch = import_files.queue_import(
                    newsletter=newsletter,
                    mailing_list=mailing_list,
                    path=path,
                    mapping=form.mapping(),
                    attestation=form.cleaned_data["attestation"],
                    actor=_actor(request),
                )
                return redirect("dashboard:import_detail", slug=newsletter.slug, pk=batch.pk)
            report = import_files.check(
                path=path, mapping=form.mapping(), schema=FieldSchema.of(newsletter)
            )
        except ValidationError as error:
            add_service_errors(form, error)
    return render(
        request,
        "subscribers/dashboard/import_map.html",
        {
            "newsletter": newsletter,
            "mailing_list": mailing_list,
            "sample": sample,
            "source_name": import_files.source_name(path),
            "form": form,
            "report": report,
        },
        status=422 if form.errors else 200,
    )


@member_required(Role.VIEWER)
def import_detail(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """Progress while the worker imports (htmx polls the fragment), then the result."""
    batch = get_object_or_404(newsletter.imports.select_related("mailing_list"), pk=pk)
    context = {
        "newsletter": newsletter,
        "batch": batch,
        "running": batch.status == ImportStatus.RUNNING,
        "problems": batch.problems.all()[:PROBLEMS_SHOWN],
    }
    if is_htmx(request):
        return render(request, "subscribers/dashboard/_import_progress.html", context)
    return render(request, "subscribers/dashboard/import_detail.html", context)
