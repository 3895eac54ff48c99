"""Getting in: logging in (password, then an optional second factor), a forgotten
password, an invitation's link, and the account security page."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from newsletter import accounts, invitations, ratelimit
from newsletter.forms import add_service_errors
from newsletter.http import client_ip

from . import two_factor
from .forms import (
    InvitationSignUpForm,
    PasswordConfirmForm,
    PasswordResetRequestForm,
    SecondFactorForm,
)

PENDING_SESSION_KEY = "crier_two_factor_pending"
# Time to type a code after the password was right; then the password is asked again.
PENDING_SECONDS = 300


def attempt_allowed(request: HttpRequest, username: str) -> bool:
    """Count one login attempt against both the client's IP and the username.

    Both limits apply: one address cannot try many accounts, and many addresses
    (a botnet) cannot try one account's password many times.
    """
    window = settings.LOGIN_ATTEMPTS_WINDOW_SECONDS
    by_ip = ratelimit.hit(
        "login-ip", client_ip(request), limit=settings.LOGIN_ATTEMPTS_PER_IP, window_seconds=window
    )
    by_user = ratelimit.hit(
        "login-user",
        username.strip().lower(),
        limit=settings.LOGIN_ATTEMPTS_PER_USERNAME,
        window_seconds=window,
    )
    return by_ip and by_user


def _too_many(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    minutes = max(1, settings.LOGIN_ATTEMPTS_WINDOW_SECONDS // 60)
    context["throttled"] = _("Too many attempts. Wait %(minutes)d minutes, then try again.") % {
        "minutes": minutes
    }
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(settings.LOGIN_ATTEMPTS_WINDOW_SECONDS)
    return response


class LoginView(auth_views.LoginView):
    """Django's login, rate-limited, that hands accounts with two-factor to a second step."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if not attempt_allowed(request, request.POST.get("username", "")):
            return _too_many(request, self.template_name, self.get_context_data())
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if not two_factor.has_two_factor(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_SESSION_KEY] = {
            "user": user.pk,
            "backend": user.backend,
            "since": time.time(),
            "next": self.get_success_url(),
        }
        return redirect("dashboard:login_verify")


def _pending_user(request: HttpRequest):
    pending = request.session.get(PENDING_SESSION_KEY)
    if not pending or time.time() - pending["since"] > PENDING_SECONDS:
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


@sensitive_post_parameters("code")
@never_cache
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app or a backup code."""
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING_SESSION_KEY, None)
        messages.error(request, _("Log in with your password first."))
        return redirect("dashboard:login")
    form = SecondFactorForm(request.POST or None)
    template = "dashboard/login_verify.html"
    if request.method != "POST":
        return render(request, template, {"form": form})
    if not attempt_allowed(request, user.get_username()):
        return _too_many(request, template, {"form": form})
    device = form.is_valid() and two_factor.verify_second_factor(
        user=user, code=form.cleaned_data["code"]
    )
    if not device:
        form.add_error(None, _("That code is not valid. Try the current one from your app."))
        return render(request, template, {"form": form}, status=400)
    del request.session[PENDING_SESSION_KEY]
    auth_login(request, user, backend=pending["backend"])
    otp_login(request, device)
    if device.name == two_factor.BACKUP_DEVICE_NAME:
        messages.warning(
            request,
            _("You used a backup code; %(count)d left.")
            % {"count": two_factor.backup_codes_left(user)},
        )
    return redirect(_safe_next(request, pending["next"]))


def _safe_next(request: HttpRequest, target: str) -> str:
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else reverse(settings.LOGIN_REDIRECT_URL)


@login_required
def security(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "dashboard/account/security.html",
        {
            "app": two_factor.active_app(user),
            "backup_codes_left": two_factor.backup_codes_left(user),
            "verified": user.is_verified(),
            "password_form": PasswordConfirmForm(user=user),
        },
    )


def _next_or_security(request: HttpRequest) -> str:
    """Where to go after a two-factor step: the page that asked for it (a newsletter
    that requires two-factor login passes ``next``), else the security page."""
    target = request.GET.get("next", "")
    if target and _safe_next(request, target) == target:
        return target
    return reverse("dashboard:account_security")


@sensitive_post_parameters("code")
@login_required
def totp_enrol(request: HttpRequest) -> HttpResponse:
    """Show the QR code of a new app key; a right code from the app switches it on."""
    if two_factor.has_two_factor(request.user):
        return redirect("dashboard:account_security")
    device = two_factor.app_enrolment_start(user=request.user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.app_enrolment_confirm(device=device, code=form.cleaned_data["code"])
        if codes is not None:
            otp_login(request, device)
            return _show_backup_codes(request, codes, _next_or_security(request))
        form.add_error("code", _("That code does not match. Check the time on your phone."))
    response = render(
        request,
        "dashboard/account/totp_enrol.html",
        {
            "form": form,
            "qr_svg": two_factor.qr_code_svg(device),
            "secret": two_factor.secret_for_typing(device),
        },
        status=400 if request.method == "POST" else 200,
    )
    add_never_cache_headers(response)
    return response


def _show_backup_codes(request: HttpRequest, codes: list[str], then: str = "") -> HttpResponse:
    """Shown once, never stored in a form a browser could keep in its cache."""
    response = render(
        request,
        "dashboard/account/backup_codes.html",
        {"codes": codes, "then": then or reverse("dashboard:account_security")},
    )
    add_never_cache_headers(response)
    return response


@sensitive_post_parameters("code")
@never_cache
@login_required
def account_verify(request: HttpRequest) -> HttpResponse:
    """Verify an open session with a code, for a newsletter that requires two-factor
    login when the session began without one (the app was set up elsewhere since)."""
    then = _next_or_security(request)
    if request.user.is_verified():
        return redirect(then)
    if not two_factor.has_two_factor(request.user):
        return redirect(f"{reverse('dashboard:account_totp_enrol')}?{urlencode({'next': then})}")
    form = SecondFactorForm(request.POST or None)
    template = "dashboard/account/verify.html"
    if request.method != "POST":
        return render(request, template, {"form": form})
    if not attempt_allowed(request, request.user.get_username()):
        return _too_many(request, template, {"form": form})
    device = form.is_valid() and two_factor.verify_second_factor(
        user=request.user, code=form.cleaned_data["code"]
    )
    if not device:
        form.add_error(None, _("That code is not valid. Try the current one from your app."))
        return render(request, template, {"form": form}, status=400)
    otp_login(request, device)
    return redirect(then)


@require_POST
@login_required
def backup_codes_replace(request: HttpRequest) -> HttpResponse:
    if not two_factor.has_two_factor(request.user):
        return redirect("dashboard:account_security")
    return _show_backup_codes(request, two_factor.backup_codes_replace(user=request.user))


@require_POST
@sensitive_post_parameters("password")
@login_required
def two_factor_off(request: HttpRequest) -> HttpResponse:
    """Switching the second factor off asks for the password, so a borrowed session cannot."""
    if not attempt_allowed(request, request.user.get_username()):
        messages.error(request, _("Too many attempts. Wait a few minutes, then try again."))
        return redirect("dashboard:account_security")
    form = PasswordConfirmForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, _("Wrong password: two-factor login is still on."))
    else:
        two_factor.two_factor_disable(user=request.user)
        messages.success(request, _("Two-factor login is off."))
    return redirect("dashboard:account_security")


# A forgotten password: Django's token and pages, with Crier's mail and limits.


@never_cache
def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a link by address. The answer is the same whether or not an account
    uses it, and the mail leaves from a worker, so neither the page nor its timing
    says who has an account here."""
    form = PasswordResetRequestForm(request.POST or None)
    template = "registration/password_reset_form.html"
    if request.method != "POST":
        return render(request, template, {"form": form})
    if not ratelimit.hit(
        "password-reset-ip",
        client_ip(request),
        limit=settings.LOGIN_ATTEMPTS_PER_IP,
        window_seconds=settings.LOGIN_ATTEMPTS_WINDOW_SECONDS,
    ):
        return _too_many(request, template, {"form": form})
    if not form.is_valid():
        return render(request, template, {"form": form}, status=422)
    accounts.password_reset_request(
        email=form.cleaned_data["email"], language=request.LANGUAGE_CODE
    )
    return redirect("dashboard:password_reset_done")


def password_reset_done(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/password_reset_done.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's page behind a mailed link (the token leaves the address bar before the
    form shows). It also sets the first password of an account made without one."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("dashboard:password_reset_complete")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["first_password"] = self.user is not None and not self.user.has_usable_password()
        return context


def password_reset_complete(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/password_reset_complete.html")


# An invitation's link.


@sensitive_post_parameters("password1", "password2")
@never_cache
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Join a newsletter's team: logged in, accept as yourself; otherwise log in first
    when the invited address has an account, or create one for it."""
    try:
        found = invitations.invitation_for_token(token)
    except invitations.InvitationInvalid:
        return _invitation_invalid(request)
    newsletter = found.newsletter
    context = {"invitation": found, "newsletter": newsletter}
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = invitations.invitation_accept(token=token, user=request.user)
            except invitations.InvitationInvalid:
                return _invitation_invalid(request)
            messages.success(
                request,
                _("You are a member of %(newsletter)s as %(role)s.")
                % {"newsletter": newsletter.name, "role": membership.get_role_display()},
            )
            return redirect(newsletter.get_absolute_url())
        return render(request, "registration/invitation.html", {**context, "mode": "accept"})
    if invitations.account_exists_for(found):
        login_url = f"{reverse('dashboard:login')}?{urlencode({'next': request.path})}"
        return render(
            request,
            "registration/invitation.html",
            {**context, "mode": "log_in", "login_url": login_url},
        )
    form = InvitationSignUpForm(request.POST or None, email=found.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.invitation_sign_up(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            ).user
        except invitations.InvitationInvalid:
            return _invitation_invalid(request)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Your account %(username)s is ready. Log in to open %(newsletter)s.")
                % {"username": user.get_username(), "newsletter": newsletter.name},
            )
            next_url = urlencode({"next": newsletter.get_absolute_url()})
            return redirect(f"{reverse('dashboard:login')}?{next_url}")
    return render(
        request,
        "registration/invitation.html",
        {**context, "mode": "sign_up", "form": form},
        status=422 if form.errors else 200,
    )


def _invitation_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/invitation_invalid.html", status=404)
