"""Optional two-factor login: an authenticator app (TOTP) and single-use backup codes.

Devices are django-otp's (``TOTPDevice``, ``StaticDevice``), which already throttle
wrong codes per device and refuse a TOTP code that was used before. This module
holds the few rules Crier adds: one app per account, a QR code drawn on the server,
backup codes issued with the app and replaced as a whole.
"""

from base64 import b32encode

import segno
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


def active_app(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def app_enrolment_start(*, user) -> TOTPDevice:
    """The unconfirmed device being set up, created on first visit and kept on reload,
    so the QR code a person already scanned stays valid."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return pending


def qr_code_svg(device: TOTPDevice) -> str:
    """The provisioning URI as an inline SVG: drawn here, so the secret never leaves."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def secret_for_typing(device: TOTPDevice) -> str:
    """The key in base32, grouped by four, for apps that cannot scan."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def app_enrolment_confirm(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the app with a code it shows; return fresh backup codes, or None if wrong."""
    if device.confirmed or not device.verify_token(code.strip().replace(" ", "")):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    return backup_codes_replace(user=device.user)


@transaction.atomic
def backup_codes_replace(*, user) -> list[str]:
    """Issue a new set of backup codes; every earlier code stops working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def two_factor_disable(*, user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def verify_second_factor(*, user, code: str):
    """The device that accepts ``code`` (the app's six digits or a backup code), or None.

    Each device counts its own failures and refuses codes for a while after too many.
    """
    code = code.strip().replace(" ", "").lower()
    if not code:
        return None
    with transaction.atomic():
        if code.isdigit():
            devices = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        else:
            devices = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices:
            if device.verify_token(code):
                return device
    return None
