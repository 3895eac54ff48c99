"""Logging in (password, then an optional second factor) and the account security page."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from newsletter import ratelimit
from newsletter.http import client_ip

from . import two_factor
from .forms import PasswordConfirmForm, SecondFactorForm

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
            return _show_backup_codes(request, codes)
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


def _show_backup_codes(request: HttpRequest, codes: list[str]) -> HttpResponse:
    """Shown once, never stored in a form a browser could keep in its cache."""
    response = render(request, "dashboard/account/backup_codes.html", {"codes": codes})
    add_never_cache_headers(response)
    return response


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
