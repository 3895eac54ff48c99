"""The Segments pages (a rule builder with a live count and a sample) and the custom
Fields page. Here because the count joins two apps: the rules (``audiences``) and the
send path's audience query (``delivery.audience``), so the builder's "can be mailed" is
the number a campaign with this segment would be sent to.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from audiences import builder, services
from audiences.forms import FieldForm, SegmentForm
from audiences.models import Segment
from audiences.rules import MAX_CONDITIONS, compile_rules
from delivery import audience
from newsletter.access import member_required
from newsletter.forms import add_service_errors
from newsletter.http import is_htmx
from newsletter.models import Newsletter, Role
from subscribers import fields
from subscribers.models import FieldDefinition


def _can_edit(request: HttpRequest) -> bool:
    return Role.includes(request.role, Role.EDITOR)


@member_required(Role.VIEWER)
def segment_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    segments = newsletter.segments.prefetch_related("campaigns")
    return render(
        request,
        "dashboard/segments/segment_list.html",
        {"newsletter": newsletter, "segments": segments, "can_edit": _can_edit(request)},
    )


def _posted_rows(post) -> list[builder.Row]:
    """The builder's rows as posted (at most one more than the compiler accepts)."""
    count = post.get("rows", "")
    rows = []
    for index in range(min(int(count) if count.isdigit() else 0, MAX_CONDITIONS + 1)):
        if f"field_{index}" not in post:
            continue
        rows.append(
            builder.Row(
                field=post.get(f"field_{index}", ""),
                op=post.get(f"op_{index}", ""),
                value=post.get(f"value_{index}", ""),
                negate=bool(post.get(f"negate_{index}")),
            )
        )
    return rows


def _fitted(rows: list[builder.Row], choices: list[builder.Choice]) -> None:
    """A row whose field changed keeps an operator that field has (the first otherwise)."""
    by_name = {choice.name: choice for choice in choices}
    for row in rows:
        choice = by_name.get(row.field) or choices[0]
        row.field = choice.name
        if row.op not in dict(choice.ops):
            row.op = choice.ops[0][0]


def _preview(newsletter: Newsletter, rules: object) -> dict:
    """The live count and sample, or the rules' errors by part."""
    try:
        compiled = compile_rules(rules, newsletter=newsletter, prefix="seg")
        preview = services.segment_preview(newsletter=newsletter, rules=rules)
    except ValidationError as error:
        return {"problems": [f"{part}: {' '.join(m)}" for part, m in error.message_dict.items()]}
    return {
        "matching": preview.matching,
        "sample": preview.sample,
        "mailable": audience.segment_audience_count(newsletter_id=newsletter.pk, segment=compiled),
    }


@member_required(Role.VIEWER)
def segment_edit(request: HttpRequest, newsletter: Newsletter, pk: int | None = None):
    """The builder. Every change re-posts the form (htmx) and gets it back with the
    operators fitting each field and the count; "Save" writes through the service."""
    segment = get_object_or_404(newsletter.segments, pk=pk) if pk else None
    choices = builder.catalogue(newsletter)
    rules = segment.rules if segment else {"all": []}
    json_mode = False
    if request.method == "POST":
        form = SegmentForm(request.POST)
        form.is_valid()
        action = request.POST.get("action", "refresh")
        json_mode = request.POST.get("mode") == "json"
        rows = _posted_rows(request.POST)
        match = form.cleaned_data.get("match") or "all"
        if action == "add":
            rows.append(builder.Row())
        elif action.startswith("remove-") and action.removeprefix("remove-").isdigit():
            index = int(action.removeprefix("remove-"))
            rows = [row for n, row in enumerate(rows) if n != index]
        _fitted(rows, choices)
        if json_mode:
            try:
                rules = form.rules_from_json()
            except ValidationError as error:
                add_service_errors(form, error)
                rules = None
        else:
            rules = builder.rules_from_rows(match, rows, choices)
        if action == "json":
            json_mode = True
        elif action == "rows" and builder.rows_from_rules(rules) is not None:
            json_mode = False
            match, rows = builder.rows_from_rules(rules)
        if action == "save" and _can_edit(request) and rules is not None and form.is_valid():
            saved = _save(form, newsletter, segment, rules)
            if saved is not None:
                messages.success(request, _("Segment saved."))
                return redirect("dashboard:segment_edit", slug=newsletter.slug, pk=saved.pk)
    else:
        flat = builder.rows_from_rules(rules)
        json_mode = flat is None
        match, rows = flat or ("all", [])
        form = SegmentForm(
            initial={
                "name": segment.name if segment else "",
                "description": segment.description if segment else "",
                "match": match,
            }
        )
    if json_mode and rules is not None and request.POST.get("action", "json") == "json":
        # Entering JSON mode (or opening deep rules): the text shows the rules so far.
        if form.is_bound:
            form = SegmentForm({**request.POST.dict(), "rules_json": builder.pretty(rules)})
            form.is_valid()
        else:
            form.initial["rules_json"] = builder.pretty(rules)
    by_name = {choice.name: choice for choice in choices}
    context = {
        "newsletter": newsletter,
        "segment": segment,
        "form": form,
        "json_mode": json_mode,
        "rows": [
            (row, choice, choice.value_kind(row.op))
            for row in rows
            for choice in [by_name.get(row.field) or choices[0]]
        ],
        "choices": choices,
        "can_edit": _can_edit(request),
        **(_preview(newsletter, rules) if rules is not None else {}),
    }
    template = "dashboard/segments/_builder.html" if is_htmx(request) else None
    return render(
        request,
        template or "dashboard/segments/segment_edit.html",
        context,
        status=422 if form.errors and not is_htmx(request) else 200,
    )


def _save(form: SegmentForm, newsletter: Newsletter, segment: Segment | None, rules):
    values = {
        "name": form.cleaned_data["name"],
        "description": form.cleaned_data["description"],
        "rules": rules,
    }
    try:
        if segment is None:
            return services.segment_create(newsletter=newsletter, **values)
        return services.segment_update(segment=segment, **values)
    except ValidationError as error:
        for part, problems in error.message_dict.items():
            form.add_error("name" if part == "name" else None, [f"{part}: {p}" for p in problems])
        return None


@member_required(Role.EDITOR)
def segment_delete(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    """A page that asks first (and names the campaigns that keep it); only the button's
    POST deletes (``confirm=yes``)."""
    segment = get_object_or_404(newsletter.segments, pk=pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.segment_delete(segment=segment)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("dashboard:segment_edit", slug=newsletter.slug, pk=segment.pk)
        messages.success(request, _("Segment deleted."))
        return redirect("dashboard:segment_list", slug=newsletter.slug)
    return render(
        request,
        "dashboard/segments/segment_delete.html",
        {"newsletter": newsletter, "segment": segment, "campaigns": segment.campaigns.all()},
    )


# Custom fields


@member_required(Role.VIEWER)
def field_list(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """The fields, and the form to define one (editors)."""
    form = FieldForm(request.POST or None)
    if request.method == "POST" and _can_edit(request) and form.is_valid():
        values = {name: form.cleaned_data[name] for name in FieldForm.Meta.fields}
        try:
            fields.field_create(newsletter=newsletter, choices=form.choices(), **values)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Field added."))
            return redirect("dashboard:field_list", slug=newsletter.slug)
    return render(
        request,
        "dashboard/segments/field_list.html",
        {
            "newsletter": newsletter,
            "fields": newsletter.field_definitions.all(),
            "form": form,
            "can_edit": _can_edit(request),
        },
        status=422 if form.errors else 200,
    )


@member_required(Role.EDITOR)
def field_edit(request: HttpRequest, newsletter: Newsletter, key: str) -> HttpResponse:
    field = get_object_or_404(FieldDefinition, newsletter=newsletter, key=key)
    form = FieldForm(request.POST or None, instance=field)
    if request.method == "POST" and request.POST.get("action") == "delete":
        try:
            services.field_delete(field=field)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Field deleted; its values stay as free attributes."))
            return redirect("dashboard:field_list", slug=newsletter.slug)
    elif request.method == "POST" and form.is_valid():
        editable = ("label", "description", "shown_to_reader", "editable_by_reader")
        values = {name: form.cleaned_data[name] for name in (*editable, "on_public_form")}
        try:
            fields.field_update(field=field, choices=form.choices(), **values)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Field saved."))
            return redirect("dashboard:field_list", slug=newsletter.slug)
    return render(
        request,
        "dashboard/segments/field_edit.html",
        {"newsletter": newsletter, "field": field, "form": form},
        status=422 if form.errors else 200,
    )
