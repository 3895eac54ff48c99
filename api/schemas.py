import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints, field_validator

from campaigns.models import BodyFormat, EditionStatus
from campaigns.models import Status as CampaignStatus
from newsletter.headers import has_line_break
from subscribers.models import (
    FieldType,
    Frequency,
    MailFormat,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
    TrackingChoice,
)
from webhooks.events import SUBSCRIBABLE
from webhooks.models import OutcomeStatus as WebhookStatus


def storable(value):
    """PostgreSQL stores neither NUL characters nor unpaired surrogates: refuse them here."""
    try:
        encoded = json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("Contains characters that are not valid Unicode.") from None
    if b"\\u0000" in encoded or b"\x00" in encoded:
        raise ValueError("Contains a NUL character.")
    return value


def single_line(value: str) -> str:
    """Text that goes into an email header: a line break could end the header block."""
    if has_line_break(value):
        raise ValueError("Line breaks are not allowed here: this text goes into an email header.")
    return value


Text = Annotated[str, AfterValidator(storable)]
Slug = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]+$", min_length=1, max_length=100)]
Attributes = Annotated[dict[str, Any], AfterValidator(storable)]


class Error(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(default_factory=dict)


class ListOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    public: bool
    opt_in: OptIn
    archived: bool = Field(
        description="Archived lists are offered to nobody and sent nothing; their "
        "subscriptions and consent records are kept."
    )
    archived_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_archived(mailing_list) -> bool:
        return mailing_list.archived_at is not None


class ListIn(Schema):
    slug: Slug
    name: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Text = ""
    public: bool = True
    opt_in: OptIn = OptIn.DOUBLE


class ListPage(Schema):
    items: list[ListOut]
    next_cursor: str | None


class Membership(Schema):
    slug: str
    name: str
    status: SubscriptionStatus
    frequency: Frequency = Field(
        description="How often the reader wants this list's issues: every_issue, "
        "weekly_digest or monthly_digest (docs/choice.md)."
    )
    subscribed_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None


class SubscriberOut(Schema):
    id: int
    email: str | None
    name: str
    status: SubscriberStatus
    attributes: Attributes
    lists: list[Membership]
    tracking: TrackingChoice = Field(
        description="newsletter (counted as the newsletter's policy says), aggregate "
        "(never counted individually) or none (no tracking image, no rewritten links)."
    )
    mail_format: MailFormat = Field(description="html (with a plain-text part) or text only.")
    paused_until: datetime | None = Field(description="No mail before this moment.")
    paused_indefinitely: bool = Field(description="No mail until the reader comes back.")
    time_zone: str = Field(
        description="An IANA name (Asia/Tokyo), or empty for the newsletter's: when a "
        "local-hour campaign reaches them and when their digest period ends."
    )
    created_at: datetime


class SubscriberPage(Schema):
    items: list[SubscriberOut]
    next_cursor: str | None


Email = Annotated[Text, StringConstraints(min_length=3, max_length=254)]
Name = Annotated[Text, StringConstraints(max_length=200)]


class SubscriberIn(Schema):
    email: Email
    name: Name = ""
    lists: list[Slug] = Field(min_length=1)
    attributes: Attributes = Field(default_factory=dict)
    attestation: Text = Field(
        "",
        max_length=2000,
        description=(
            "How this person consented elsewhere (recorded in the consent ledger). "
            "With it, lists are confirmed at once; without it, a confirmation mail is sent."
        ),
    )


class SubscriberPatch(Schema):
    name: Name | None = None
    attributes: Attributes | None = Field(
        None, description="Merged into the attributes; a key set to null is removed."
    )
    lists: list[Slug] | None = Field(
        None, description="The complete set of lists wanted in this newsletter."
    )
    attestation: Text = Field("", max_length=2000)
    tracking: TrackingChoice | None = Field(
        None, description="Only ever stricter than the reader's own choice: 422 otherwise."
    )
    mail_format: MailFormat | None = None
    paused_until: datetime | None = Field(
        None, description="A future moment; null ends a pause by date."
    )
    paused_indefinitely: bool | None = Field(
        None, description="True: no mail until the reader comes back; false ends that pause."
    )
    frequencies: dict[Slug, Frequency] | None = Field(
        None, description="Per list slug the reader is subscribed to: its new frequency."
    )
    time_zone: Annotated[Text, StringConstraints(max_length=64)] | None = Field(
        None, description="An IANA name such as Asia/Tokyo; empty: the newsletter's."
    )


class Accepted(Schema):
    detail: str


class Problem(Schema):
    line: int
    reason: str


class ImportOut(Schema):
    id: int
    list: str
    status: str
    format: str
    rows: int
    created: int
    subscribed: int
    unchanged: int
    suppressed: int = Field(description="Suppressed addresses, left alone.")
    suppressions_added: int = Field(
        description="Unsubscribed, cleaned or blocklisted in the export: now suppressed."
    )
    duplicates: int
    bad_rows: int
    error: str
    created_at: datetime
    finished_at: datetime | None
    problems: list[Problem] = Field(description="The first 1000 bad rows, by line.")


class CampaignOut(Schema):
    id: int
    name: str
    slug: str
    subject: str
    preheader: str
    lists: list[str] = Field(description="Slugs of the lists it goes to.")
    segment: int | None = Field(
        description="The id of the segment that narrows its lists (every list when it has "
        "none), or null."
    )
    template: str = Field(description="The name of its layout.")
    body_format: BodyFormat
    body: str
    public: bool
    status: CampaignStatus
    failure_reason: str = Field(
        description="Why a scheduled campaign could not start (status failed); else empty."
    )
    send_at: datetime | None
    local_hour: int | None = Field(
        description="Each reader gets it at this hour of their own day (their time zone, "
        "else the newsletter's); null: at once."
    )
    sent_at: datetime | None
    created_at: datetime
    language: str = Field(
        description="The language of the campaign's own content (the newsletter's): readers "
        "without an edition of their language get it."
    )
    editions: list[str] = Field(
        description="Languages of its other editions (/campaigns/{id}/editions/)."
    )
    edition_fallback: bool = Field(
        description="Readers of an edition still pending get the campaign's own content "
        "instead of blocking the send."
    )

    @staticmethod
    def resolve_language(campaign) -> str:
        return campaign.newsletter.language

    @staticmethod
    def resolve_editions(campaign) -> list[str]:
        return [edition.language for edition in campaign.editions.all()]

    @staticmethod
    def resolve_lists(campaign) -> list[str]:
        return [mailing_list.slug for mailing_list in campaign.lists.all()]

    @staticmethod
    def resolve_segment(campaign) -> int | None:
        return campaign.segment_id

    @staticmethod
    def resolve_template(campaign) -> str:
        return campaign.layout.name


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_cursor: str | None


CampaignName = Annotated[
    Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Subject = Annotated[
    Text,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=250),
    AfterValidator(single_line),
]
Preheader = Annotated[Text, StringConstraints(max_length=250)]
LocalHour = Annotated[int, Field(ge=0, le=23)]


class CampaignIn(Schema):
    name: CampaignName
    subject: Subject
    preheader: Preheader = ""
    lists: list[Slug] = Field(default_factory=list)
    segment: int | None = Field(
        None, description="A segment's id: only the people it picks receive the campaign."
    )
    template: Text | None = Field(None, description="A layout's name; the first one if omitted.")
    body_format: BodyFormat = BodyFormat.MARKDOWN
    body: Text = Field(min_length=1)
    public: bool = False
    edition_fallback: bool = False
    send_at: datetime | None = Field(None, description="Schedule it for this time.")
    local_hour: LocalHour | None = Field(
        None, description="Deliver at this hour (0 to 23) of each reader's own day."
    )


class CampaignPatch(Schema):
    name: CampaignName | None = None
    subject: Subject | None = None
    preheader: Preheader | None = None
    lists: list[Slug] | None = None
    segment: int | None = Field(None, description="A segment's id; null removes the segment.")
    template: Text | None = None
    body_format: BodyFormat | None = None
    body: Text | None = Field(None, min_length=1)
    public: bool | None = None
    edition_fallback: bool | None = None
    send_at: datetime | None = Field(
        None, description="A time schedules or reschedules it; null unschedules it."
    )
    local_hour: LocalHour | None = Field(
        None, description="Deliver at this hour (0 to 23) of each reader's own day; null: at once."
    )


Language = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=2, max_length=10)]


class EditionOut(Schema):
    language: str
    name: str = Field(description="The language's name.")
    status: EditionStatus = Field(
        description="pending: its translation is not ready; the campaign cannot be sent "
        "while readers would get it, unless the campaign's edition_fallback is true."
    )
    subject: str
    preheader: str
    body: str
    readers: int = Field(description="Confirmed readers of the campaign's lists it reaches now.")
    flagged: bool = Field(description="True when no reader of the campaign's lists has it.")
    problems: list[str] = Field(description="What its render reports, errors and warnings.")


class EditionIn(Schema):
    language: Language = Field(description="A language code: fr, de, pt-br…")
    subject: Subject
    preheader: Preheader = ""
    body: Text = Field(min_length=1)
    status: EditionStatus = EditionStatus.PENDING


class EditionPatch(Schema):
    subject: Subject | None = None
    preheader: Preheader | None = None
    body: Text | None = Field(None, min_length=1)
    status: EditionStatus | None = None


class EditionCounts(Schema):
    language: str
    recipients: int
    sent: int
    failed: int
    human_opens: int | None = Field(
        description="People who opened it; null unless the newsletter tracks individually."
    )
    human_clicks: int | None = Field(
        description="People who clicked in it; null unless the newsletter tracks individually."
    )


class SendOut(Schema):
    status: str
    recipients: int


class TestIn(Schema):
    to: list[Email] = Field(min_length=1, max_length=5)

    @field_validator("to")
    @classmethod
    def addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                single_line(address)  # Django's validator lets some through quoted
                validate_email(address)
            except (DjangoValidationError, ValueError):
                raise ValueError(f"{address} is not a valid email address.") from None
        return value


class TestOut(Schema):
    queued: int


class UncertainOut(Schema):
    delivery: int
    subscriber: int
    email: str | None
    reason: str


class SettlementOut(Schema):
    choice: Literal["resend", "count_as_sent"]
    deliveries: list[int]
    actor: str
    decided_at: datetime


class UncertainList(Schema):
    items: list[UncertainOut]
    settlements: list[SettlementOut]


class SettleIn(Schema):
    choice: Literal["resend", "count_as_sent"] = Field(
        description=(
            "resend: queue them again (someone may get the campaign twice); "
            "count_as_sent: count them as delivered (someone may never get it)."
        )
    )
    deliveries: list[int] | None = Field(
        None, description="Which uncertain rows (their ``delivery`` ids); all when omitted."
    )


class EngagementCounts(Schema):
    total: int
    human: int
    machine: int
    unique_human: int | None = Field(description="Individual tracking only; null otherwise.")
    unique_machine: int | None = Field(description="Individual tracking only; null otherwise.")


class LinkClicks(Schema):
    url: str
    position: int
    clicks_human: int
    clicks_machine: int


class Period(Schema):
    start: datetime
    hours: int = Field(description="1 for the first 48 hours after the first hit, then 24.")
    opens_human: int
    opens_machine: int
    clicks_human: int
    clicks_machine: int


class CampaignStats(Schema):
    status: CampaignStatus
    sent_at: datetime | None
    at: datetime
    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int
    uncertain: int
    per_second: float
    eta_seconds: float | None
    # Engagement (tracking.stats): machine opens and clicks are counted apart.
    tracking_policy: str
    recipients: int
    opens: EngagementCounts
    clicks: EngagementCounts
    scanner_visits: int = Field(description="Fetches of the hidden link only machines follow.")
    links: list[LinkClicks]
    timeline: list[Period]
    editions: list[EditionCounts] = Field(
        description="Recipients and messages by the edition each got (its language)."
    )
    # Delivery outcomes (delivery.selectors.feedback_counts): messages, not events.
    delivered: int = Field(description="Messages the receiving server accepted.")
    bounced_hard: int = Field(description="Messages refused for good (address suppressed).")
    bounced_soft: int = Field(description="Messages refused for now (full mailbox, greylist).")
    complained: int = Field(description="Messages the recipient marked as spam.")
    rejected: int = Field(description="Messages the sending service refused to send.")
    unsubscribed: int = Field(
        description=(
            "Recipients who left a list through this campaign's mail: its link, one-click "
            "header or unsubscribe address, or the sending service; each person once."
        )
    )
    esp_unsubscribed: int = Field(description="Of those, the ones the sending service reported.")


WebhookEvent = Literal[tuple(event.value for event in SUBSCRIBABLE)]


class WebhookEndpointIn(Schema):
    url: Annotated[Text, StringConstraints(min_length=1, max_length=2000)]
    events: Annotated[list[WebhookEvent], Field(min_length=1)]
    description: Annotated[Text, StringConstraints(max_length=200)] = ""


class WebhookEndpointOut(Schema):
    id: int
    url: str
    description: str
    events: list[str]
    active: bool
    created_at: datetime
    disabled_at: datetime | None


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="Signs every request (Crier-Signature); shown only here.")


class WebhookDeliveryOut(Schema):
    id: int
    event: str
    event_id: UUID
    status: WebhookStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    finished_at: datetime | None


class FieldOut(Schema):
    id: int
    key: str = Field(description="Where values live in a subscriber's attributes.")
    label: str
    description: str
    type: FieldType
    choices: list[str] = Field(description="For type choice: the values it may take.")
    shown_to_reader: bool = Field(description="Shown in the preference center.")
    editable_by_reader: bool = Field(description="Editable in the preference center.")
    on_public_form: bool = Field(description="Asked on the public subscribe form.")
    position: int


FieldLabel = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class FieldIn(Schema):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
    label: FieldLabel
    type: FieldType = FieldType.TEXT
    description: Text = ""
    choices: list[Text] = Field(default_factory=list, max_length=100)
    shown_to_reader: bool = False
    editable_by_reader: bool = False
    on_public_form: bool = False


class FieldPatch(Schema):
    label: FieldLabel | None = None
    description: Text | None = None
    choices: list[Text] | None = Field(None, max_length=100)
    shown_to_reader: bool | None = None
    editable_by_reader: bool | None = None
    on_public_form: bool | None = None
    position: int | None = Field(None, ge=0)


class FieldPage(Schema):
    items: list[FieldOut]
    next_cursor: str | None


Rules = Annotated[
    dict[str, Any],
    AfterValidator(storable),
    Field(
        description='Groups {"all": [...]}, {"any": [...]}, {"not": {...}} and conditions '
        '{"field": "sdk", "op": "eq", "value": "python"}: see docs/audiences.md.',
        examples=[{"all": [{"field": "list", "op": "confirmed", "value": "releases"}]}],
    ),
]
SegmentName = Annotated[
    Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    rules: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentIn(Schema):
    name: SegmentName
    description: Text = ""
    rules: Rules


class SegmentPatch(Schema):
    name: SegmentName | None = None
    description: Text | None = None
    rules: Rules | None = None


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_cursor: str | None


class RulesIn(Schema):
    rules: Rules


class SegmentCount(Schema):
    matching: int = Field(description="Contacts the rules pick (erased ones left out).")
    mailable: int = Field(
        description="Of them, who a campaign with this segment and no list would reach now: "
        "confirmed on a list, not suppressed, not paused."
    )
