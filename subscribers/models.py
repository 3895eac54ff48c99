import hashlib

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from newsletter.models import Newsletter, validate_timezone

DIGEST_PREFIX = "crier:"


def digest(value: str) -> str:
    """A stable digest of a personal value; empty input gives an empty digest."""
    if not value:
        return ""
    return hashlib.sha256(f"{DIGEST_PREFIX}{value}".encode()).hexdigest()


def address_digest(email: str) -> str:
    """How an address is known once it may not be stored: ledger, suppression, sending."""
    return digest(email.strip().lower())


class OptIn(models.TextChoices):
    DOUBLE = "double", _("Double opt-in: confirm by email")
    SINGLE = "single", _("Single opt-in: subscribed at once")


class MailingListQuerySet(models.QuerySet):
    def active(self) -> "MailingListQuerySet":
        """Lists that are not archived: the only ones offered to people or sent to."""
        return self.filter(archived_at__isnull=True)


class MailingList(models.Model):
    """A topic people subscribe to, within one newsletter."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="lists")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    public = models.BooleanField(
        default=True, help_text=_("Shown on the public page and in the preference center.")
    )
    opt_in = models.CharField(max_length=10, choices=OptIn.choices, default=OptIn.DOUBLE)
    created_at = models.DateTimeField(auto_now_add=True)
    # Archived: no longer offered (forms, public page, preference center) nor sent to;
    # its subscriptions and consent records stay, and unarchiving brings it back.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = MailingListQuerySet.as_manager()

    class Meta:
        ordering = ["newsletter", "name"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "slug"], name="list_slug_per_newsletter"),
            # What a subscription's composite foreign key points at (migration 0012): a
            # subscription joins a list of its own newsletter, checked by PostgreSQL.
            models.UniqueConstraint(fields=["newsletter", "id"], name="list_in_newsletter"),
        ]

    def __str__(self) -> str:
        return f"{self.newsletter.slug}/{self.slug}"


class SubscriberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed from everything")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Complained")
    ERASED = "erased", _("Erased")


class MailFormat(models.TextChoices):
    """How a reader's copy is built (delivery/messages.py)."""

    HTML = "html", _("HTML, with a plain-text part")
    TEXT = "text", _("Plain text only")


class TrackingChoice(models.TextChoices):
    """What a reader lets the newsletter count, whatever its policy allows.

    Stored as two flags on the contact, ``tracking_opt_out`` (never counted
    individually: what segment rules and the tracking flush rely on) and
    ``tracking_off`` (nothing in the copy that could count them), so that every
    reader who is not tracked at all is also never counted individually.
    """

    NEWSLETTER = "newsletter", _("As the newsletter's privacy note says")
    AGGREGATE = "aggregate", _("Count my opens and clicks only in the totals, never as mine")
    NONE = "none", _("Do not track me at all: no tracking image and no rewritten links")


class SubscriberQuerySet(models.QuerySet):
    def with_address(self, email: str) -> "SubscriberQuerySet":
        """The contacts with this address, whatever its case, through the unique
        ``(LOWER(email), newsletter)`` index (``email__iexact`` compares ``UPPER()`` and
        misses it: a scan of every subscriber instead of one index probe).

        Every newsletter has its own contact for an address: scope the queryset to one
        newsletter first (``Subscriber.objects.filter(newsletter=…)``) unless the
        person is acting for themself (``selectors.person_at``).
        """
        return self.alias(address=Lower("email")).filter(address=email.strip().lower())


class Subscriber(models.Model):
    """A contact: one address as one newsletter knows it. Erasure empties it but keeps the row.

    A person subscribed to two newsletters is two contacts, one per newsletter, each
    with its own name, language, attributes, status, opt-outs, subscriptions,
    consent ledger and deliveries (docs/decisions.md, "Contacts per newsletter"):
    nothing a newsletter does to its contact can reach another newsletter's.

    The row survives erasure so the consent ledger and delivery history still
    have something to point at, with no personal data left in it.
    """

    # Served by the (newsletter, id) unique index below.
    newsletter = models.ForeignKey(
        Newsletter, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    # NULL once erased: several erased rows must not collide in the unique constraint.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    # Kept in step with ``email`` by save(): lets sending join the suppression list in SQL.
    # Not indexed: that join probes the suppression's unique index, and an index of random
    # digests here would cost every insert (most of a bulk import's time) for no reader.
    email_digest = models.CharField(max_length=64, blank=True, editable=False)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=10, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=SubscriberStatus.choices, default=SubscriberStatus.ACTIVE
    )
    tracking_opt_out = models.BooleanField(
        default=False, help_text=_("Never track this person individually.")
    )
    # The rarer flags below have database defaults, so that the COPY statements of the
    # bulk import (and of the benchmarks) need not name them.
    tracking_off = models.BooleanField(
        default=False,
        db_default=False,
        help_text=_("No tracking image and no rewritten links in this person's mail."),
    )
    mail_format = models.CharField(
        max_length=10, choices=MailFormat.choices, default=MailFormat.HTML, db_default="html"
    )
    # Paused until a date, or until the person comes back (``paused_indefinitely``):
    # the audience leaves the contact out either way (delivery/audience.py).
    paused_until = models.DateTimeField(null=True, blank=True)
    paused_indefinitely = models.BooleanField(default=False, db_default=False)
    # An IANA name ("Asia/Tokyo"), or blank for the newsletter's: when a local-hour
    # campaign reaches this reader and when their digest period ends (docs/choice.md).
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_timezone],
        help_text=_("Blank: the newsletter's time zone."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set by migration 0011 on the contacts it split off a person's shared row: links
    # mailed before the split name that row, and still lead to this newsletter's contact.
    split_from = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["email"]
        # The API filters by creation date and pages by id, within one newsletter;
        # attributes get a GIN index in migration 0003 (raw SQL: jsonb_path_ops).
        indexes = [
            models.Index(fields=["newsletter", "created_at"], name="contact_created"),
            # The dashboard's status filter: the rare statuses are found without a scan.
            models.Index(
                fields=["newsletter", "status"],
                condition=~models.Q(status="active"),
                name="contact_inactive_status",
            ),
            models.Index(
                fields=["split_from"],
                condition=models.Q(split_from__isnull=False),
                name="contact_split_from",
            ),
        ]
        constraints = [
            # Not tracked at all implies never counted individually.
            models.CheckConstraint(
                condition=models.Q(tracking_off=False) | models.Q(tracking_opt_out=True),
                name="untracked_never_counted",
            ),
            # Mailboxes almost never tell "Ada@" from "ada@": one contact for both, in
            # each newsletter. The address leads, so a person's own cross-newsletter
            # lookup (preference center, erasure) uses the same index.
            models.UniqueConstraint(
                Lower("email"), models.F("newsletter"), name="one_contact_per_address"
            ),
            # A newsletter's contacts by id (the dashboard and API pages) and what a
            # subscription's composite foreign key points at (migration 0012).
            models.UniqueConstraint(fields=["newsletter", "id"], name="contact_in_newsletter"),
        ]

    def __str__(self) -> str:
        return self.email or f"erased subscriber {self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.email_digest = address_digest(self.email or "")
        if kwargs.get("update_fields") is not None and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_digest"}
        super().save(*args, **kwargs)

    @property
    def tracking_choice(self) -> str:
        if self.tracking_off:
            return TrackingChoice.NONE
        return TrackingChoice.AGGREGATE if self.tracking_opt_out else TrackingChoice.NEWSLETTER

    def set_tracking_choice(self, choice: str) -> None:
        """Set both flags from one choice (see ``TrackingChoice``)."""
        self.tracking_off = choice == TrackingChoice.NONE
        self.tracking_opt_out = choice != TrackingChoice.NEWSLETTER

    @property
    def paused(self) -> bool:
        """Whether the audience leaves the contact out now, for its pause."""
        return self.paused_indefinitely or (
            self.paused_until is not None and self.paused_until > timezone.now()
        )


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", _("Pending confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")


class Frequency(models.TextChoices):
    """How often a reader wants a list's issues: each as it is sent, or gathered into a
    digest at the end of each week or month (``Subscription.frequency``)."""

    EVERY_ISSUE = "every_issue", _("Every issue")
    WEEKLY_DIGEST = "weekly_digest", _("Weekly digest")
    MONTHLY_DIGEST = "monthly_digest", _("Monthly digest")


class Subscription(models.Model):
    """A contact on a list of the same newsletter.

    ``newsletter`` repeats the list's (``save`` copies it) so that PostgreSQL can
    check both sides with two composite foreign keys, (newsletter, subscriber) and
    (newsletter, mailing list), added by migration 0012 in place of the plain ones:
    a subscription that would join one newsletter's contact to another's list is
    refused by the database, whatever code writes it.
    """

    # Both foreign keys are served by the composite indexes in Meta (leading columns);
    # their database constraints are the composite ones (see the docstring).
    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        db_index=False,
        db_constraint=False,
    )
    mailing_list = models.ForeignKey(
        MailingList,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        db_index=False,
        db_constraint=False,
    )
    newsletter = models.ForeignKey(
        Newsletter,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
        editable=False,
    )
    status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The reader's choice, stored and shown (preference center, API); digest delivery
    # reads it (docs/choice.md). A database default: the import's INSERT omits it.
    frequency = models.CharField(
        max_length=20,
        choices=Frequency.choices,
        default=Frequency.EVERY_ISSUE,
        db_default="every_issue",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "mailing_list"], name="one_subscription_per_list"
            )
        ]
        indexes = [
            models.Index(fields=["mailing_list", "status"]),
            # Starting a campaign asks whether anyone on its lists reads them in a digest
            # (delivery/timing.py): a probe of the few such subscriptions, not a scan.
            models.Index(
                fields=["mailing_list"],
                condition=~models.Q(frequency="every_issue"),
                name="subscription_digest_readers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} → {self.mailing_list} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        if self.newsletter_id is None:
            self.newsletter_id = self.mailing_list.newsletter_id
        super().save(*args, **kwargs)


class ConsentAction(models.TextChoices):
    SUBSCRIBED = "subscribed", _("Subscribed")
    CONFIRMED = "confirmed", _("Confirmed")
    PREFERENCES_CHANGED = "preferences_changed", _("Changed preferences")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    IMPORTED = "imported", _("Imported with attestation")
    ERASED = "erased", _("Erased")
    SPLIT = "split", _("Moved to a contact of its own newsletter")


class ConsentSource(models.TextChoices):
    FORM = "form", _("Subscribe form")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    DASHBOARD = "dashboard", _("Dashboard")
    ONE_CLICK = "one_click", _("One-click unsubscribe header")
    CONFIRMATION_LINK = "confirmation_link", _("Confirmation link")
    PREFERENCE_CENTER = "preference_center", _("Preference center")
    UNSUBSCRIBE_PAGE = "unsubscribe_page", _("Unsubscribe page")
    ESP_COMPLAINT = "esp_complaint", _("Spam complaint reported by the sending service")
    ESP_UNSUBSCRIBE = "esp_unsubscribe", _("Unsubscribe reported by the sending service")
    MAIL = "mail", _("Mail to the unsubscribe address")
    SELF_SERVICE = "self_service", _("The person's own data page")
    MIGRATION = "migration", _("Upgrade to contacts per newsletter")


class AppendOnlyError(Exception):
    pass


class ConsentEvent(models.Model):
    """One row of the append-only consent ledger: proof of what a person agreed to.

    Each row hashes its content together with the previous row's hash for the same
    subscriber, so any later edit or deletion breaks the chain (see
    ``subscribers.ledger.verify_chain``). Personal values enter the hash only
    through their digests, which lets erasure blank them without breaking it.
    """

    # Indexed by (subscriber, id) below, which also serves the foreign key.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.PROTECT, related_name="consent_events", db_index=False
    )
    # Indexed by (newsletter, created_at) below: the dashboard's growth chart.
    newsletter = models.ForeignKey(Newsletter, on_delete=models.PROTECT, null=True, db_index=False)
    mailing_list = models.ForeignKey(MailingList, on_delete=models.PROTECT, null=True)
    action = models.CharField(max_length=30, choices=ConsentAction.choices)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    wording = models.TextField(blank=True, help_text=_("The exact text the person agreed to."))
    details = models.JSONField(default=dict, blank=True)
    email = models.CharField(max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    email_digest = models.CharField(max_length=64)
    ip_digest = models.CharField(max_length=64, blank=True)
    user_agent_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    previous_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["subscriber", "id"]
        indexes = [
            models.Index(fields=["subscriber", "id"]),
            models.Index(fields=["newsletter", "created_at"], name="consent_newsletter_created"),
        ]
        # A constraint rather than unique=True: the same guarantee without the extra
        # LIKE index Django adds to unique CharFields, which halves what a bulk import
        # writes for the ledger (hashes are random, so each index costs a page per row).
        constraints = [models.UniqueConstraint(fields=["hash"], name="consent_event_hash_unique")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} via {self.get_source_display()} at {self.created_at}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Consent events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Consent events are append-only.")


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed from everything")
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    SOFT_BOUNCES = "soft_bounces", _("Soft bounces, again and again")
    COMPLAINT = "complaint", _("Spam complaint")
    MANUAL = "manual", _("Added by an admin")
    ERASED = "erased", _("Erased on request")


class Suppression(models.Model):
    """An address that must not be mailed, kept only as a digest so it survives erasure.

    With a ``newsletter``, only that newsletter's mail stops (an import's "cleaned"
    rows, an editor's erasure or manual suppression, leaving a newsletter). Without
    one it is instance-wide, and only three things write that: a hard bounce or
    complaint about a message that was actually sent, the person's own "stop
    everything" or "erase me", and an instance admin. Sending applies both scopes.
    """

    email_digest = models.CharField(max_length=64)
    newsletter = models.ForeignKey(
        Newsletter,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="suppressions",
        db_index=False,
        help_text=_("Empty: every newsletter of this instance."),
    )
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One row per address and scope; each partial index also serves one half
            # of sending's "suppressed here or everywhere" test.
            models.UniqueConstraint(
                fields=["email_digest"],
                condition=models.Q(newsletter__isnull=True),
                name="one_instance_suppression",
            ),
            models.UniqueConstraint(
                fields=["email_digest", "newsletter"],
                condition=models.Q(newsletter__isnull=False),
                name="one_newsletter_suppression",
            ),
        ]

    def __str__(self) -> str:
        scope = self.newsletter_id or "everywhere"
        return f"{self.email_digest[:12]}… ({self.get_reason_display()}, {scope})"

    @property
    def instance_wide(self) -> bool:
        return self.newsletter_id is None


class ImportStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed: resume it")


class ImportBatch(models.Model):
    """One CSV import into one list: its attestation, where it stopped, what it did.

    Each chunk of rows commits together with its ``ImportChunk`` record, so an
    interrupted import resumes with the lines no chunk committed and never imports a
    row twice. ``lines_done``: every line up to it is committed (progress).
    """

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="imports")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="imports")
    source_name = models.CharField(max_length=255, blank=True)
    # csv, listmonk, mailchimp or mailman3 (see import_formats); "auto" until detected.
    format = models.CharField(max_length=20, default="auto")
    attestation = models.TextField(help_text=_("How the people in the file consented."))
    actor = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.RUNNING
    )
    lines_done = models.PositiveBigIntegerField(default=0)
    lines_total = models.PositiveBigIntegerField(
        default=0, help_text=_("Lines in the file, when known: the progress bar's end.")
    )
    rows = models.PositiveBigIntegerField(default=0)
    created = models.PositiveBigIntegerField(default=0, help_text=_("New subscribers."))
    subscribed = models.PositiveBigIntegerField(default=0, help_text=_("New subscriptions."))
    unchanged = models.PositiveBigIntegerField(
        default=0, help_text=_("Already subscribed, or left the list before: left alone.")
    )
    suppressed = models.PositiveBigIntegerField(
        default=0, help_text=_("Suppressed addresses (unsubscribed, bounced): left alone.")
    )
    suppressions_added = models.PositiveBigIntegerField(
        default=0,
        help_text=_("Addresses the old tool says not to mail, added to the suppression list."),
    )
    duplicates = models.PositiveBigIntegerField(default=0)
    bad_rows = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} into {self.mailing_list} ({self.status})"


class ImportChunk(models.Model):
    """A committed part of an import: its lines and what they did.

    Chunks are merged on several connections at once and commit in any order, so an
    interrupted import resumes by skipping exactly the committed chunks' lines; the
    batch's counters are these rows' sums.
    """

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="chunks")
    first_line = models.PositiveBigIntegerField()
    last_line = models.PositiveBigIntegerField()
    rows = models.PositiveBigIntegerField(default=0)
    created = models.PositiveBigIntegerField(default=0)
    subscribed = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveBigIntegerField(default=0)
    suppressed = models.PositiveBigIntegerField(default=0)
    suppressions_added = models.PositiveBigIntegerField(default=0)
    duplicates = models.PositiveBigIntegerField(default=0)
    bad_rows = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["batch", "first_line"]
        indexes = [models.Index(fields=["batch", "first_line"])]

    def __str__(self) -> str:
        return f"lines {self.first_line} to {self.last_line} of {self.batch}"


class ImportProblem(models.Model):
    """A row the import skipped, by its line in the file, with the reason."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="problems")
    line = models.PositiveBigIntegerField()
    reason = models.TextField()

    class Meta:
        ordering = ["batch", "line"]
        indexes = [models.Index(fields=["batch", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    YES_NO = "yes_no", _("Yes or no")
    CHOICE = "choice", _("One of a few choices")


class FieldDefinition(models.Model):
    """A typed custom field of one newsletter's contacts (issue 15).

    Its values live in ``Subscriber.attributes`` under ``key``, normalised by type on
    every write (``subscribers.fields``): a number is a JSON number, a date an ISO
    ``YYYY-MM-DD`` string, yes/no a boolean, a choice one of ``choices``. Keys with no
    definition stay free text. ``key`` and ``type`` never change once created, so the
    values already stored and the segments that name the field keep their meaning.
    """

    newsletter = models.ForeignKey(
        Newsletter, on_delete=models.CASCADE, related_name="field_definitions"
    )
    key = models.CharField(
        max_length=50,
        help_text=_("Where the value is kept and how rules and merge tags name it."),
    )
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True)
    shown_to_reader = models.BooleanField(_("shown in the preference center"), default=False)
    editable_by_reader = models.BooleanField(_("editable in the preference center"), default=False)
    on_public_form = models.BooleanField(_("asked on the public subscribe form"), default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["newsletter", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "key"], name="field_key_per_newsletter")
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class BulkJobAction(models.TextChoices):
    """What a bulk job does to each person it selects (the page's export streams instead)."""

    ADD = "add", _("Add to list")
    REMOVE = "remove", _("Remove from list")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe from all lists")


class BulkJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BulkJob(models.Model):
    """A bulk action on a selection too large for one request, done by a worker.

    The selection is frozen when the editor asks (``BulkJobMember``: the ids that
    matched then), and each chunk deletes its members in the transaction that changes
    them, so the members left are exactly the work left: a worker killed mid-way
    resumes there and nobody is changed, nor written in the ledger, twice.
    ``done`` people were processed; ``changed`` of them were changed, ``already`` were
    as asked, ``skipped`` may not be changed by an editor (they left, bounced, complained).
    """

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="bulk_jobs")
    action = models.CharField(max_length=12, choices=BulkJobAction.choices)
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, null=True, blank=True, related_name="bulk_jobs"
    )
    attestation = models.TextField(blank=True)
    # The subscribers page's filters as the editor set them (query parameters): shown
    # beside the job; the people are the frozen members, not a new search.
    filters = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=BulkJobStatus.choices, default=BulkJobStatus.QUEUED
    )
    total = models.PositiveBigIntegerField(default=0)
    done = models.PositiveBigIntegerField(default=0)
    changed = models.PositiveBigIntegerField(default=0)
    already = models.PositiveBigIntegerField(default=0)
    skipped = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched by every chunk: a job whose worker died stops moving, and is resumed.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "updated_at"], name="bulkjob_unfinished")]

    def __str__(self) -> str:
        return f"bulk {self.action} {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (BulkJobStatus.DONE, BulkJobStatus.FAILED)


class BulkJobMember(models.Model):
    """A person a bulk job has still to process (deleted with the chunk that does).

    ``subscriber_id`` is a plain number, not a foreign key: a contact deleted meanwhile
    is simply not found when its chunk runs, and freezing a big selection costs no
    foreign-key check per row.
    """

    pk = models.CompositePrimaryKey("job_id", "subscriber_id")
    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="members")
    subscriber_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.job_id}:{self.subscriber_id}"
