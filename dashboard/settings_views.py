"""A newsletter's settings (owner only): details, members, invitations and roles, API tokens."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from api.models import ApiToken
from api.services import issue_token, revoke_token
from newsletter import invitations, services
from newsletter.access import member_required
from newsletter.forms import add_service_errors
from newsletter.models import InvitationStatus, Membership, Newsletter, Role, known_timezones

from .forms import ApiTokenForm, InvitationForm, MemberRoleForm, NewsletterSettingsForm


@member_required(Role.OWNER)
def settings_general(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    form = NewsletterSettingsForm(request.POST or None, instance=newsletter)
    if request.method == "POST":
        if form.is_valid():
            changes = {field: form.cleaned_data[field] for field in form.changed_data}
            if changes:
                services.newsletter_update(newsletter=newsletter, changes=changes)
            messages.success(request, _("Settings saved."))
            return redirect("dashboard:settings", slug=newsletter.slug)
        newsletter.refresh_from_db()
    return render(
        request,
        "dashboard/settings/general.html",
        {
            "newsletter": newsletter,
            "form": form,
            "section": "general",
            "timezones": known_timezones(),
        },
        status=422 if form.errors else 200,
    )


def _members_page(request, newsletter, *, invite_form=None, status=200) -> HttpResponse:
    memberships = newsletter.membership_set.select_related("user").order_by("user__username")
    return render(
        request,
        "dashboard/settings/members.html",
        {
            "newsletter": newsletter,
            "section": "members",
            "memberships": memberships,
            "invitations": newsletter.invitations.filter(status=InvitationStatus.PENDING),
            "roles": Role.choices,
            "invite_form": invite_form or InvitationForm(),
        },
        status=status,
    )


@member_required(Role.OWNER)
def settings_members(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """The team and its pending invitations; a POST invites an address with a role."""
    if request.method != "POST":
        return _members_page(request, newsletter)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = invitations.invitation_create(
                newsletter=newsletter,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Invitation sent to %(email)s.") % {"email": invitation.email},
            )
            return redirect("dashboard:settings_members", slug=newsletter.slug)
    return _members_page(request, newsletter, invite_form=form, status=422)


@require_POST
@member_required(Role.OWNER)
def settings_invitation_resend(
    request: HttpRequest, newsletter: Newsletter, pk: int
) -> HttpResponse:
    invitation = get_object_or_404(newsletter.invitations, pk=pk)
    try:
        invitations.invitation_resend(invitation=invitation)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Invitation sent again to %(email)s; the earlier link no longer works.")
            % {"email": invitation.email},
        )
    return redirect("dashboard:settings_members", slug=newsletter.slug)


@require_POST
@member_required(Role.OWNER)
def settings_invitation_revoke(
    request: HttpRequest, newsletter: Newsletter, pk: int
) -> HttpResponse:
    invitation = get_object_or_404(newsletter.invitations, pk=pk)
    try:
        invitations.invitation_revoke(invitation=invitation)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("The invitation to %(email)s is revoked; its link no longer works.")
            % {"email": invitation.email},
        )
    return redirect("dashboard:settings_members", slug=newsletter.slug)


@require_POST
@member_required(Role.OWNER)
def settings_member_role(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, newsletter=newsletter)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles listed."))
        return redirect("dashboard:settings_members", slug=newsletter.slug)
    try:
        services.member_change_role(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, _("Role changed."))
    return _after_team_change(request, newsletter)


@require_POST
@member_required(Role.OWNER)
def settings_member_remove(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, newsletter=newsletter)
    try:
        services.member_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(
            request, _("%(user)s was removed.") % {"user": membership.user.get_username()}
        )
    return _after_team_change(request, newsletter)


def _after_team_change(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Back to the team page, unless the owner just gave up their own ownership."""
    if (
        request.user.is_superuser
        or Membership.objects.filter(
            newsletter=newsletter, user=request.user, role=Role.OWNER
        ).exists()
    ):
        return redirect("dashboard:settings_members", slug=newsletter.slug)
    return redirect("dashboard:home")


def _tokens_page(request, newsletter, *, form=None, created=None, status=200) -> HttpResponse:
    response = render(
        request,
        "dashboard/settings/tokens.html",
        {
            "newsletter": newsletter,
            "section": "tokens",
            "tokens": ApiToken.objects.filter(newsletter=newsletter).select_related("user"),
            "form": form or ApiTokenForm(ceiling=request.role),
            "created": created,
        },
        status=status,
    )
    add_never_cache_headers(response)
    return response


@member_required(Role.OWNER)
def settings_tokens(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """The newsletter's API tokens; a POST creates one for the current user, shown once."""
    if request.method != "POST":
        return _tokens_page(request, newsletter)
    form = ApiTokenForm(request.POST, ceiling=request.role)
    if not form.is_valid():
        return _tokens_page(request, newsletter, form=form, status=422)
    token, raw = issue_token(
        user=request.user,
        newsletter=newsletter,
        role=form.cleaned_data["role"],
        name=form.cleaned_data["name"],
    )
    return _tokens_page(request, newsletter, created={"token": token, "raw": raw})


@require_POST
@member_required(Role.OWNER)
def settings_token_revoke(request: HttpRequest, newsletter: Newsletter, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, newsletter=newsletter)
    revoke_token(token=token)
    messages.success(request, _("Token %(prefix)s… revoked.") % {"prefix": token.prefix})
    return redirect("dashboard:settings_tokens", slug=newsletter.slug)
