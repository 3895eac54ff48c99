import email
import email.policy
from email.message import EmailMessage

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import TextChoices
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message the built-in outbox backend "sent": kept whole, exactly as SMTP would carry it.

    The summary columns exist for listing; the raw MIME bytes are the truth.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The newsletter whose connection stored it (``transports.connection_for``);
    # empty for the instance's own mail. Erasing a newsletter's contact removes its copies.
    newsletter = models.ForeignKey(
        "newsletter.Newsletter",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outbox_messages",
    )
    from_email = models.TextField()
    recipients = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    message_id = models.TextField(blank=True)
    raw = models.BinaryField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def get_absolute_url(self) -> str:
        return reverse("dashboard:outbox_message", kwargs={"pk": self.pk})

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(bytes(self.raw), policy=email.policy.default)

    def body(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` part, or an empty string when there is none."""
        part = self.parsed().get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""


class DeliveryStatus(models.TextChoices):
    """One recipient's message through a campaign.

    queued → claimed (leased by a worker) → in_flight (being handed to the server)
    → sent | failed | skipped. ``uncertain``: its worker died while the message was
    in flight, so it may or may not have left; it is never resent automatically.
    """

    QUEUED = "queued", _("Queued")
    CLAIMED = "claimed", _("Claimed by a worker")
    IN_FLIGHT = "in_flight", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    UNCERTAIN = "uncertain", _("Uncertain")
    # An experiment's rest: waiting for the winner, never claimed (delivery/samples.py).
    HELD = "held", _("Held for the experiment's winner")
    # The reader gets this campaign in their weekly or monthly digest (``Digest``): the
    # row waits for it, then takes the digest's outcome. Not claimed by campaign workers.
    IN_DIGEST = "in_digest", _("Waiting for the reader's digest")


UNFINISHED = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.IN_FLIGHT,
    DeliveryStatus.HELD,
)


class BounceType(TextChoices):
    """Hard: the address does not exist or will never accept mail (suppressed at once).
    Soft: a full mailbox, a greylist, a block (counted; suppressed after several)."""

    HARD = "hard", _("Hard bounce")
    SOFT = "soft", _("Soft bounce")


# Negative feedback is rare: a report counts it through this partial index, never by
# scanning a campaign's million rows.
HAS_NEGATIVE_FEEDBACK = (
    models.Q(bounced_at__isnull=False)
    | models.Q(complained_at__isnull=False)
    | models.Q(rejected_at__isnull=False)
    | models.Q(esp_unsubscribed_at__isnull=False)
    | models.Q(unsubscribed_at__isnull=False)
)


class Delivery(models.Model):
    """The per-recipient ledger of a campaign: one row per (campaign, subscriber), ever."""

    # No database-level foreign keys: checking two of them for each of a million rows
    # would double the time to start a campaign. The rows are only ever inserted from
    # existing ids (create_deliveries), subscribers are never deleted (erasure empties
    # them), and Django still cascades when a campaign is deleted.
    # Neither is indexed alone: every index that a new row enters is one more entry
    # written for each of a million rows when a campaign starts. The unique
    # (campaign, subscriber) index and (campaign, status, id) answer "this campaign's
    # deliveries"; "this person's" are found campaign by campaign in the first (the
    # newsletter's campaigns are named), or, for outcomes, in
    # ``delivery_outcome_by_subscriber``, which a row enters only when it has one.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,
    )
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    esp_message_id = models.CharField(max_length=255, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The experiment variant (A to D) this recipient was sent as part of the sample; empty
    # for everyone else, including the rest who get the winner (delivery/samples.py).
    variant = models.CharField(max_length=1, blank=True, default="", db_default="")
    # The language of the edition this recipient gets (campaigns.Edition, or the
    # newsletter's language for the campaign itself), fixed when sending starts.
    edition = models.CharField(max_length=10, blank=True, default="", db_default="")
    # What the receiving side said afterwards (ESP webhooks, bounce mail, SMTP refusals):
    # see delivery/feedback.py. Each is set once, by the first event that reports it.
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    # db_default: create_deliveries inserts rows in raw SQL that does not name it.
    bounce_type = models.CharField(
        max_length=4, choices=BounceType.choices, blank=True, default="", db_default=""
    )
    complained_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    esp_unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The recipient left a list through this message: the link in it, its one-click
    # header (RFC 8058), its unsubscribe address (RFC 2369) or the ESP. Set once, by the
    # first such act that ended a subscription (delivery/receivers.py). With
    # ``esp_unsubscribed_at`` (the ESP said so, even when nothing was left to end) it
    # makes the campaign's unsubscribe count, one per person, under every tracking
    # policy: this is the sending ledger, not tracking.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # IN_DIGEST rows: the end of the reader's digest period (delivery/digests.py), and
    # the digest that carried them once it is made.
    digest_due_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        "delivery.Digest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            # Campaign first: a new campaign's entries are one run at the index's right
            # edge. Led by the subscriber, each of them went into the middle of a
            # person's run, so starting a campaign rewrote every leaf page and cost
            # more with every campaign sent before it (docs/benchmarks.md).
            models.UniqueConstraint(
                fields=["campaign", "subscriber"], name="one_delivery_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"]),
            # The sweeper's question every 30 s — which leases expired? — must not scan
            # millions of finished rows: only rows being worked on are in this index.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status__in=["claimed", "in_flight"]),
                name="delivery_live_lease",
            ),
            # ESP webhooks that carry no metadata are matched by the ESP's message id.
            # SMTP rows hold our own Message-ID, which names the row: they stay out.
            models.Index(
                fields=["esp_message_id"],
                condition=~models.Q(esp_message_id="")
                & ~models.Q(esp_message_id__contains=".crier@"),
                name="delivery_esp_message_id",
            ),
            # feedback_counts: an index-only count per campaign for each kind.
            models.Index(
                fields=["campaign"],
                condition=models.Q(delivered_at__isnull=False),
                name="delivery_delivered",
            ),
            models.Index(
                fields=["campaign", "bounce_type"],
                include=["complained_at", "rejected_at", "esp_unsubscribed_at", "unsubscribed_at"],
                condition=HAS_NEGATIVE_FEEDBACK,
                name="delivery_negative_feedback",
            ),
            # The digest collector's question each minute — whose period has ended? —
            # and a digest's own rows: both only among the rare rows held for digests.
            models.Index(
                fields=["digest_due_at", "subscriber"],
                condition=models.Q(status="in_digest", digest__isnull=True),
                name="delivery_digest_due",
            ),
            models.Index(
                fields=["digest"],
                condition=models.Q(digest__isnull=False),
                name="delivery_in_digest",
            ),
            # The progress page's "waiting for their hour" count, each poll: without it,
            # a scan of every campaign's rows. Rows enter only when they have a time.
            models.Index(
                fields=["campaign", "next_attempt_at"],
                condition=models.Q(status="queued", next_attempt_at__isnull=False),
                name="delivery_queued_for_later",
            ),
            # A person's messages with a known outcome, newest first: the soft-bounce
            # limit, and the segment rule "bounced". Rows enter it when feedback
            # arrives, one at a time, never when a campaign starts.
            models.Index(
                fields=["subscriber", "id"],
                condition=models.Q(bounced_at__isnull=False)
                | models.Q(delivered_at__isnull=False)
                | ~models.Q(bounce_type=""),
                name="delivery_outcome_by_subscriber",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.subscriber_id}: {self.status}"


class FeedbackKind(TextChoices):
    """What the receiving side reported, in anymail's vocabulary (``EventType``)."""

    DELIVERED = "delivered", _("Delivered")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Marked as spam")
    REJECTED = "rejected", _("Rejected by the sending service")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed at the sending service")


class DeliveryEvent(models.Model):
    """One event an ESP (or a bounce message) reported, kept so that a repeat changes nothing.

    ESPs deliver webhooks at least once; the unique (esp, event_id, recipient) makes a
    second delivery of the same event a no-op. Amazon SES gives one id to an SNS
    notification that names several recipients, hence the recipient in the key. No
    address is stored, only its digest; ``detail`` has the address blanked out.
    Rows are pruned after ``CRIER_FEEDBACK_EVENT_RETENTION_DAYS``: ESPs stop retrying
    long before, and the outcome itself stays on the Delivery row.
    """

    esp = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255)
    recipient_digest = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=12, choices=FeedbackKind.choices)
    bounce_type = models.CharField(max_length=4, choices=BounceType.choices, blank=True)
    delivery = models.ForeignKey(
        Delivery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        db_constraint=False,
    )
    detail = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["esp", "event_id", "recipient_digest"], name="one_feedback_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.esp} {self.kind} ({self.event_id})"


class BackendKind(models.TextChoices):
    OUTBOX = "outbox", _("Built-in outbox (nothing leaves the server)")
    SMTP = "smtp", _("SMTP server")
    AMAZON_SES = "amazon_ses", "Amazon SES"
    MAILGUN = "mailgun", "Mailgun"
    POSTMARK = "postmark", "Postmark"
    SENDGRID = "sendgrid", "SendGrid"
    BREVO = "brevo", "Brevo"
    RESEND = "resend", "Resend"
    SPARKPOST = "sparkpost", "SparkPost"
    MAILJET = "mailjet", "Mailjet"


class SmtpSecurity(models.TextChoices):
    STARTTLS = "starttls", _("STARTTLS (usually port 587)")
    TLS = "tls", _("TLS from the start (usually port 465)")
    NONE = "none", _("None (only for a server on this machine or network)")


class SendingBackend(models.Model):
    """How one newsletter's mail leaves, overriding the instance's EMAIL_BACKEND when active.

    Secrets (API keys, passwords) live in ``secrets``: a Fernet token of a JSON object
    (``newsletter.encryption``), never plaintext, never shown back in a form.
    """

    newsletter = models.OneToOneField(
        "newsletter.Newsletter", on_delete=models.CASCADE, related_name="sending_backend"
    )
    kind = models.CharField(_("service"), max_length=20, choices=BackendKind.choices)
    active = models.BooleanField(
        _("use it for this newsletter's mail"),
        default=False,
        help_text=_("Off: mail still uses the instance's default backend; tests use this one."),
    )
    host = models.CharField(_("SMTP host"), max_length=255, blank=True)
    port = models.PositiveIntegerField(_("SMTP port"), null=True, blank=True)
    username = models.CharField(_("SMTP user name"), max_length=255, blank=True)
    security = models.CharField(
        _("SMTP encryption"),
        max_length=10,
        choices=SmtpSecurity.choices,
        default=SmtpSecurity.STARTTLS,
    )
    api_url = models.URLField(
        _("API base URL"),
        blank=True,
        help_text=_("Blank: the service's default. Set it for another region (e.g. the EU)."),
    )
    region = models.CharField(
        _("region"),
        max_length=30,
        blank=True,
        help_text=_("Amazon SES only, e.g. eu-west-1."),
    )
    sender_domain = models.CharField(
        _("sending domain"),
        max_length=255,
        blank=True,
        help_text=_("Mailgun only; blank: the domain of the newsletter's sender address."),
    )
    secrets = models.TextField(blank=True, default="", editable=False)
    rate_per_second = models.FloatField(
        _("messages per second"),
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("0: no limit."),
    )
    rate_per_hour = models.PositiveIntegerField(
        _("messages per hour"), default=0, help_text=_("0: no limit.")
    )
    rate_per_day = models.PositiveIntegerField(
        _("messages per day"),
        default=0,
        help_text=_("0: no limit. In any 24 hours, like Amazon SES's sending quota."),
    )
    domain_rate_per_minute = models.PositiveIntegerField(
        _("messages per minute to one recipient domain"),
        default=0,
        help_text=_("0: no limit. Some providers (Gmail, Outlook) slow down bursts."),
    )
    batch_size = models.PositiveIntegerField(
        _("recipients per API call"),
        default=0,
        help_text=_("For services that send a batch in one call; 0: the service's maximum."),
    )
    # Its own tracking webhook: /webhooks/anymail/<esp>/tracking/<webhook_key>/ with basic
    # auth "crier:<secret>", the secret a Fernet token like ``secrets`` (delivery/webhooks.py).
    # Events there act only on this newsletter's deliveries.
    webhook_key = models.CharField(max_length=32, unique=True, editable=False)
    webhook_secret = models.TextField(editable=False)
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, editable=False)
    last_test_detail = models.TextField(blank=True, default="", editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.newsletter_id}: {self.get_kind_display()}"


class TestMailRefusal(models.Model):
    """Someone who received a test message (campaign test, backend test) asked for no
    more from this newsletter: test sends go to any address a member types, so the
    recipient needs a way out. Only a digest of the address is kept."""

    newsletter = models.ForeignKey(
        "newsletter.Newsletter", on_delete=models.CASCADE, related_name="+"
    )
    address_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "address_digest"], name="one_test_mail_refusal"
            )
        ]

    def __str__(self) -> str:
        return f"{self.newsletter_id}: {self.address_digest[:12]}…"


class UncertainChoice(models.TextChoices):
    RESEND = "resend", _("Send to these people again")
    COUNT_AS_SENT = "count_as_sent", _("Count them as delivered")


class UncertainSettlement(models.Model):
    """An owner's or editor's decision about uncertain rows, kept as its evidence: who
    chose what, when, for which rows (the rows keep the decision in their last error)."""

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="uncertain_settlements"
    )
    choice = models.CharField(max_length=16, choices=UncertainChoice.choices)
    delivery_ids = models.JSONField(default=list)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor = models.CharField(max_length=255, help_text=_("Who, as shown: the user or API token."))
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.choice} ({len(self.delivery_ids)})"


class DigestStatus(models.TextChoices):
    """One digest mail, with a campaign row's states: queued → claimed (leased, being
    built) → in_flight (being handed over) → sent | failed; ``skipped`` when nothing
    was left to send by then (the reader left, or every issue was cancelled);
    ``uncertain`` when its worker died while handing it over (never resent)."""

    QUEUED = "queued", _("Queued")
    CLAIMED = "claimed", _("Claimed by a worker")
    IN_FLIGHT = "in_flight", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    UNCERTAIN = "uncertain", _("Uncertain")
    SKIPPED = "skipped", _("Nothing left to send")


class Digest(models.Model):
    """One reader's weekly or monthly digest: the campaigns of a period in one mail.

    Made when the period ends (in the reader's time zone, else the newsletter's) from
    the reader's ``in_digest`` delivery rows, which then point at it and take its
    outcome when it is sent: each campaign counts as delivered once, by this mail.
    """

    newsletter = models.ForeignKey(
        "newsletter.Newsletter", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="digests"
    )
    period_end = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=DigestStatus.choices, default=DigestStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    esp_message_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Rows of a period are gathered into its one waiting digest; once that is
            # taken, a late row (a campaign committed just after) gets a digest of its own.
            models.UniqueConstraint(
                fields=["subscriber", "period_end"],
                condition=models.Q(status="queued"),
                name="one_waiting_digest_per_reader_period",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "id"],
                condition=models.Q(status__in=["queued", "claimed", "in_flight"]),
                name="digest_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"digest {self.pk} for {self.subscriber_id} ({self.status})"


class WorkerHeartbeat(models.Model):
    """A running send task's sign of life (delivery/heartbeats.py).

    ``worker`` is the name the task stamps on the delivery rows it claims; its process
    writes ``beat_at`` with PostgreSQL's clock every few seconds. Rows of a worker silent
    for longer than ``SEND_WORKER_SILENCE_SECONDS`` are taken back before their lease
    ends. One row per running send task: the table stays a handful of rows.
    """

    worker = models.CharField(max_length=255, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} (pid {self.pid})"
