"""Who may see and change which newsletter: the one place roles are enforced for views."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import user_has_device

from .http import is_htmx
from .models import Membership, Newsletter, Role


def can_create_newsletters(user) -> bool:
    """Instance admins create newsletters: Django's ``newsletter.add_newsletter``
    permission, which every superuser holds and which can be granted alone."""
    return user.has_perm("newsletter.add_newsletter")


def newsletters_for(user) -> QuerySet[Newsletter]:
    """Newsletters the user may open: all for superusers, else those they are a member of."""
    if user.is_superuser:
        return Newsletter.objects.all()
    return Newsletter.objects.filter(members=user)


def role_of(user, newsletter: Newsletter) -> Role | None:
    if user.is_superuser:
        return Role.OWNER
    role = (
        Membership.objects.filter(newsletter=newsletter, user=user)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads that are more than a look: an export takes every address of a list away from
# Crier. The dashboard and the API ask for this role (one rule for both).
EXPORT_ROLE = Role.EDITOR


def required_for(method: str | None, role: Role) -> Role:
    """The role a request needs: ``role`` to read, at least an editor to change anything."""
    if method in SAFE_METHODS:
        return role
    return role if Role.includes(role, Role.EDITOR) else Role.EDITOR


def member_required(role: Role = Role.VIEWER) -> Callable:
    """Decorate a view taking ``slug``: it receives ``newsletter`` instead.

    A non-member gets 404 (the newsletter's existence is not revealed); a member
    of a newsletter that requires two-factor login whose session was not verified
    with a code is sent to set up an app or type a code, then back; a member
    whose role is below ``role`` gets 403. Viewers only read: a request that may
    change something (POST, PUT, PATCH, DELETE) needs at least an editor, whatever
    ``role`` says. ``request.role`` holds the user's role; the wrapper's
    ``required_role`` states ``role`` for the dashboard's role-matrix test.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
            newsletter = get_object_or_404(Newsletter, slug=slug)
            user_role = role_of(request.user, newsletter)
            if user_role is None:
                raise Http404
            if newsletter.require_two_factor and not request.user.is_verified():
                return _second_factor_first(request, newsletter)
            if not Role.includes(user_role, required_for(request.method, role)):
                raise PermissionDenied
            request.role = user_role
            return view(request, *args, newsletter=newsletter, **kwargs)

        wrapper.required_role = role
        return wrapper

    return decorator


def _second_factor_first(request: HttpRequest, newsletter: Newsletter) -> HttpResponse:
    """Send the member to verify this session (or first set up an app), then back here."""
    name = "account_verify" if user_has_device(request.user) else "account_totp_enrol"
    back = (
        request.get_full_path() if request.method in SAFE_METHODS else newsletter.get_absolute_url()
    )
    url = f"{reverse(f'dashboard:{name}')}?{urlencode({'next': back})}"
    messages.info(
        request,
        _("%(newsletter)s requires two-factor login for its members.")
        % {"newsletter": newsletter.name},
    )
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
