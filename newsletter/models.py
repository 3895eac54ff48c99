import functools
import zoneinfo
from email.headerregistry import Address

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.timezone import now
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .headers import header_value, validate_single_line


@functools.cache
def known_timezones() -> tuple[str, ...]:
    """IANA zone names, sorted; read once, as listing them walks the zone database."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_timezone(value: str) -> None:
    if value not in known_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class TrackingPolicy(models.TextChoices):
    OFF = "off", _("Off: no pixel, links untouched")
    AGGREGATE = "aggregate", _("Aggregate: counts per campaign and link, never per person")
    INDIVIDUAL = "individual", _("Individual: per-subscriber events, unless they opt out")


DEFAULT_CONSENT_TEXT = (
    "I agree to receive this newsletter by email. I can unsubscribe at any time "
    "with the link in every email."
)


class Newsletter(models.Model):
    """A publication: who sends it, to whom it says it is from, and how it tracks."""

    # Name, sender and reply-to go into headers (List-Id, From, Reply-To): one line each.
    name = models.CharField(max_length=200, validators=[validate_single_line])
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    from_name = models.CharField(
        _("sender name"), max_length=200, validators=[validate_single_line]
    )
    from_email = models.EmailField(_("sender address"), validators=[validate_single_line])
    reply_to = models.EmailField(
        _("reply-to address"), blank=True, validators=[validate_single_line]
    )
    # Blank only for a newsletter created by ``manage.py create_newsletter`` without
    # one: it cannot send until an owner adds it (``sending_problems``).
    postal_address = models.TextField(
        blank=True,
        help_text=_("Shown in every email's footer, as CAN-SPAM and bulk-sender rules require."),
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    tracking_policy = models.CharField(
        max_length=20, choices=TrackingPolicy.choices, default=TrackingPolicy.AGGREGATE
    )
    record_tracking_ip = models.BooleanField(
        _("record IP addresses of opens and clicks"),
        default=False,
        help_text=_(
            "Individual tracking only. Off by default: tracking then stores no IP address."
        ),
    )
    consent_text = models.TextField(
        _("consent wording"),
        default=DEFAULT_CONSENT_TEXT,
        help_text=_("What people agree to when they subscribe; stored with every consent."),
    )
    record_consent_ip = models.BooleanField(
        _("record IP address and browser with consent"),
        default=False,
        help_text=_("Off by default: the consent ledger then holds no IP address."),
    )
    require_proof_of_work = models.BooleanField(
        _("ask for a proof of work before subscribing"),
        default=False,
        help_text=_(
            "The browser solves a small puzzle first: stops bulk sign-ups by bots, "
            "with no third-party CAPTCHA. Needs JavaScript."
        ),
    )
    require_two_factor = models.BooleanField(
        _("require two-factor login for members"),
        default=False,
        help_text=_(
            "Members without an authenticator app are asked to set one up before they "
            "can open this newsletter's pages."
        ),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="newsletters"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dashboard:newsletter", kwargs={"slug": self.slug})

    @property
    def sender(self) -> str:
        """The From header: display name and address (``HeaderInjection`` if either has a
        line break, which input validation keeps out)."""
        return str(
            Address(
                display_name=header_value("From", self.from_name),
                addr_spec=header_value("From", self.from_email),
            )
        )

    def sending_problems(self) -> list[str]:
        """What the newsletter itself lacks before any of its campaigns may be sent."""
        if not self.postal_address.strip():
            return [
                gettext(
                    "The newsletter has no postal address, which the law requires in every "
                    "email: an owner adds it in Settings."
                )
            ]
        return []


class Role(models.TextChoices):
    """Ordered from least to most powerful; each role can do what the ones before it can."""

    VIEWER = "viewer", _("Viewer: reads everything")
    EDITOR = "editor", _("Editor: lists, subscribers and campaigns")
    OWNER = "owner", _("Owner: settings, sending backend and members")

    @classmethod
    def includes(cls, held: str, wanted: str) -> bool:
        """Whether someone holding role ``held`` may do what ``wanted`` may."""
        order = list(cls.values)
        return order.index(held) >= order.index(wanted)

    @classmethod
    def lesser(cls, first: str, second: str) -> "Role":
        """The weaker of two roles: what a token may do is capped by its user's role."""
        return cls(second if cls.includes(first, second) else first)


class Membership(models.Model):
    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.newsletter}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    REVOKED = "revoked", _("Revoked")


class Invitation(models.Model):
    """An owner's invitation for an address to join a newsletter with a role.

    The link's token is never stored, only its SHA-256: each mail carries a fresh
    token, so sending again makes the earlier link stop working. A pending
    invitation past ``expires_at`` is expired; its status changes only in
    ``newsletter.invitations``.
    """

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    status = models.CharField(
        max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    # Empty until the first mail is sent, and again once the invitation is closed.
    token_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "newsletter",
                condition=models.Q(status="pending"),
                name="one_pending_invitation_per_address",
            ),
            models.UniqueConstraint(
                "token_digest",
                condition=~models.Q(token_digest=""),
                name="invitation_token_digest_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} — {self.get_role_display()} of {self.newsletter}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= now()
