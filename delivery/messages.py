"""Build the one message a subscriber receives from a campaign, with every header
Gmail's and Yahoo's bulk-sender rules ask for (RFC 2369, RFC 8058, RFC 2919).

No header value leaves here with a line break in it (``newsletter.headers``): the
raw SMTP bytes, the Django message for the outbox and anymail, and anymail's batch
message are each checked whole, and a bad value raises ``HeaderInjection``.
"""

import binascii
import secrets
import smtplib
from dataclasses import dataclass, replace
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import urlsplit

import dkim
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from campaigns import extensions
from campaigns.models import Campaign
from campaigns.reader_links import ReaderLinks
from campaigns.rendering import Recipient, Rendered, slot_values
from campaigns.rendering.mergetags import Compiled
from campaigns.services import Variants, archive_url
from newsletter.headers import header_value
from newsletter.links import absolute_url
from subscribers import tokens
from subscribers.models import Subscription, SubscriptionStatus

from .bounces import verp_address
from .compose import Composed, compose
from .headercheck import SUBJECT_FIELD_PREFIX, check_headers
from .models import Delivery
from .tags import delivery_tag
from .unsubscribe_mail import signed_addresses

TOKEN_HOLE = "TOKEN-HOLE"  # noqa: S105 (a placeholder, not a secret)


def site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


@dataclass(frozen=True, slots=True)
class Addressee:
    """What one message needs to know about its subscriber."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    attributes: dict
    list_name: str
    tracking_opt_out: bool = False
    list_id: int | None = None  # the list it is sent through, offered on the unsubscribe page
    untracked: bool = False  # the reader refuses all tracking: their copy is the untracked one
    text_only: bool = False  # the reader wants plain text: no HTML part at all
    # What picks their variant (``CampaignMessages.choose``): the edition recorded on
    # their row, their language, and which of the lists the conditions name they are on.
    edition: str = ""
    language: str = ""
    lists: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Variant:
    """One rendered message of the campaign, with what follows from it, built once."""

    rendered: Rendered  # the compose stages applied (tracking's links and pixel)
    untracked: Rendered  # as rendered: the copy of readers who refuse all tracking
    tracked: bool  # whether a stage changed anything (tracking's policy is not off)
    composed: Composed
    fillers: list
    reader_links: ReaderLinks | None
    text_part: "QuotedPrintableTemplate"
    html_part: "QuotedPrintableTemplate"


class CampaignMessages:
    """Everything per campaign is computed once; ``build`` does only the per-recipient part.

    A campaign with editions or conditional blocks has several messages (variants,
    ``campaigns.services.Variants``): each is rendered and prepared when the first
    reader who gets it comes, then reused.
    """

    def __init__(self, campaign: Campaign, rendered: Rendered, sample_variant: str = "") -> None:
        newsletter = campaign.newsletter
        self.campaign = campaign
        # An experiment's sample variant (A to D): its tokens carry the letter, so its
        # opens and clicks are counted apart (experiments; ``campaign`` is then the
        # campaign with the variant's subject and body).
        self.sample_variant = sample_variant
        self.newsletter_id = newsletter.pk
        self.sender = newsletter.sender
        self.reply_to = [newsletter.reply_to] if newsletter.reply_to else None
        self.host = site_host()
        self.list_id = f"{_encode_header(newsletter.name)} <{newsletter.slug}.{self.host}>"
        self.feedback_id = f"{campaign.pk}:{newsletter.slug}:crier"
        # Public: the archive page, the same for all and fine to share. Otherwise each
        # reader's own signed copy, made only when the message shows the link.
        self.web_version = archive_url(campaign) if campaign.public else ""
        self.unsubscribe_mailto = signed_addresses()
        self.envelope_sender = newsletter.from_email
        self.unsubscribe_url = _url_around_token("subscribers:unsubscribe")
        # Which campaign the person leaves through: its report counts them (unsigned, so
        # it only counts for a campaign the person was sent: subscribers.services).
        self.unsubscribe_query = f"?c={campaign.pk}"
        self.preferences_url = _url_around_token("subscribers:preferences")
        # "=_" never occurs in quoted-printable output, so no body can contain the boundary.
        self.boundary = f"=_crier_{campaign.pk}_{secrets.token_hex(8)}".encode()
        self.fixed_headers = self._fixed_headers(
            f'Content-Type: multipart/alternative; boundary="{self.boundary.decode()}"'
        )
        self.text_only_headers = self._fixed_headers(
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
        )
        # Each variant's untracked HTML, encoded the first time a reader needs it.
        self._untracked_parts: dict[int, QuotedPrintableTemplate] = {}
        self.dkim = DkimSigner.from_settings()
        self.variants = Variants(campaign)
        self.vary = self.variants.vary
        self.default = self._variant(rendered)
        self.rendered = self.default.rendered
        self._by_key: dict[tuple[str, frozenset[str]], Variant] = {
            (self.variants.default, frozenset()): self.default
        }

    def _variant(self, rendered: Rendered) -> Variant:
        if not rendered.ok:
            raise ValueError(
                f"campaign {self.campaign.pk}: a variant does not render: "
                + "; ".join(problem.located() for problem in rendered.errors)
            )
        # The compose stages (tracking: links rewritten and the pixel added, as the
        # newsletter's policy says); the render as it was is the copy of readers who
        # refuse all tracking.
        untracked = rendered
        composed = compose(campaign=self.campaign, rendered=rendered, variant=self.sample_variant)
        rendered = composed.rendered
        parts = (rendered.subject, rendered.html, rendered.text)
        return Variant(
            rendered=rendered,
            untracked=untracked,
            tracked=rendered is not untracked,
            composed=composed,
            # Slots other apps fill per recipient (a referral link, answer links), if used.
            fillers=extensions.reader_fillers(
                campaign=self.campaign,
                used=frozenset(slot.name for part in parts for slot in part.slots),
            ),
            reader_links=ReaderLinks(self.campaign)
            if not self.campaign.public and _has_slot(rendered, "web_version_url")
            else None,
            text_part=QuotedPrintableTemplate(rendered.text),
            html_part=QuotedPrintableTemplate(rendered.html),
        )

    def variant_for(self, addressee: Addressee) -> Variant:
        """The message this reader gets; rendered the first time one like them comes."""
        if not self.vary:
            return self.default
        key = self.variants.key(
            edition=addressee.edition,
            lists=addressee.lists,
            language=addressee.language,
            attributes=addressee.attributes,
        )
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = self._variant(self.variants.render(key))
        return found

    def choose(self, addressees: list[Addressee]) -> list[Addressee]:
        """The addressees with what picks their variant: the edition recorded on their row
        when sending started, their language, the lists the conditions name that they
        are on. No query when every reader gets the same message."""
        if not self.vary or not addressees:
            return addressees
        rows = {
            delivery_id: (edition, language)
            for delivery_id, edition, language in Delivery.objects.filter(
                id__in=[addressee.delivery_id for addressee in addressees]
            ).values_list("id", "edition", "subscriber__language")
        }
        lists: dict[int, set[str]] = {}
        if self.variants.list_slugs:
            for subscriber_id, slug in Subscription.objects.filter(
                subscriber_id__in=[addressee.subscriber_id for addressee in addressees],
                status=SubscriptionStatus.CONFIRMED,
                mailing_list__newsletter_id=self.newsletter_id,
                mailing_list__slug__in=self.variants.list_slugs,
            ).values_list("subscriber_id", "mailing_list__slug"):
                lists.setdefault(subscriber_id, set()).add(slug)
        return [
            replace(
                addressee,
                edition=rows.get(addressee.delivery_id, ("", ""))[0],
                language=rows.get(addressee.delivery_id, ("", ""))[1] or "",
                lists=frozenset(lists.get(addressee.subscriber_id, ())),
            )
            for addressee in addressees
        ]

    def _recipient(self, addressee: Addressee, variant: Variant) -> Recipient:
        claim = tokens.Claim(addressee.subscriber_id, self.newsletter_id)
        return Recipient(
            email=addressee.email,
            name=addressee.name,
            attributes=addressee.attributes,
            list_name=addressee.list_name,
            unsubscribe_url=self.unsubscribe_url.format(tokens.unsubscribe_token(claim))
            + self.unsubscribe_query
            + (f"&list={addressee.list_id}" if addressee.list_id else ""),
            preferences_url=self.preferences_url.format(tokens.preferences_token(claim)),
            web_version_url=(
                variant.reader_links.url(addressee.subscriber_id)
                if variant.reader_links
                else self.web_version
            ),
        )

    def _values(
        self, addressee: Addressee, recipient: Recipient, variant: Variant
    ) -> dict[str, str]:
        """Every slot's raw value: the merge tags', the compose stages' (tracking
        links), other apps'."""
        values = recipient.values()
        values.update(
            variant.composed.values(
                delivery_id=addressee.delivery_id,
                opted_out=addressee.tracking_opt_out or addressee.untracked,
            )
        )
        for fill in variant.fillers:
            values.update(fill(addressee.subscriber_id, addressee.delivery_id))
        return values

    def build(self, addressee: Addressee) -> EmailMultiAlternatives:
        """A Django message, for backends that take one (the outbox, anymail's ESPs)."""
        variant = self.variant_for(addressee)
        recipient = self._recipient(addressee, variant)
        values = self._values(addressee, recipient, variant)
        rendered = variant.rendered
        subject, text = (
            part.fill(slot_values(part, values, recipient))
            for part in (rendered.subject, rendered.text)
        )
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=self.sender,
            to=[addressee.email],
            reply_to=self.reply_to,
            headers=self._headers(addressee, recipient.unsubscribe_url),
        )
        if not addressee.text_only:
            html = self.html_of(addressee, variant)
            message.attach_alternative(html.fill(slot_values(html, values, recipient)), "text/html")
        # Read by anymail backends (ESP metadata, echoed back in tracking webhooks),
        # signed: the webhook believes no id it could have been sent by someone else.
        message.metadata = {"delivery": delivery_tag(addressee.delivery_id)}
        message.tags = [f"campaign-{self.campaign.pk}"]
        return check_headers(message)

    def build_raw(self, addressee: Addressee) -> bytes:
        """The same message as RFC 5322 bytes, for SMTP, without the ``email`` package.

        Serialising a 40 KB newsletter with it costs about 10 ms; here the constant
        chunks of each part were quoted-printable encoded once per campaign, and a
        recipient costs the encoding of their own values only.
        """
        variant = self.variant_for(addressee)
        recipient = self._recipient(addressee, variant)
        values = self._values(addressee, recipient, variant)
        rendered = variant.rendered
        subject = rendered.subject.fill(slot_values(rendered.subject, values, recipient))
        headers = {
            "To": addressee.email,
            "Subject": _encode_header(subject),
            "Date": formatdate(),
            **self._headers(addressee, recipient.unsubscribe_url),
        }
        try:
            head = "".join(
                f"{name}: {header_value(name, value)}\r\n" for name, value in headers.items()
            )
            head_bytes = head.encode("ascii")
        except UnicodeEncodeError:  # an internationalised address: let the email package do it
            return self.build(addressee).message().as_bytes(linesep="\r\n")
        text = variant.text_part.fill(slot_values(rendered.text, values, recipient))
        if addressee.text_only:
            message = b"".join((self.text_only_headers, head_bytes, b"\r\n", text))
            return self.dkim.sign(message) if self.dkim else message
        html = self.html_of(addressee, variant)
        separator = b"\r\n--" + self.boundary + b"\r\n"
        message = b"".join(
            (
                self.fixed_headers,
                head_bytes,
                separator,
                b'Content-Type: text/plain; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                text,
                separator,
                b'Content-Type: text/html; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                self._html_part_of(addressee, variant).fill(slot_values(html, values, recipient)),
                b"\r\n--" + self.boundary + b"--\r\n",
            )
        )
        return self.dkim.sign(message) if self.dkim else message

    def html_of(self, addressee: Addressee, variant: Variant) -> Compiled:
        """The HTML the reader gets: without the pixel and tracked links if they refuse
        all tracking, whatever the newsletter's policy."""
        return variant.untracked.html if addressee.untracked else variant.rendered.html

    def _html_part_of(self, addressee: Addressee, variant: Variant) -> "QuotedPrintableTemplate":
        if not (addressee.untracked and variant.tracked):
            return variant.html_part
        part = self._untracked_parts.get(id(variant))
        if part is None:  # encoded once per variant, when a first reader needs it
            part = self._untracked_parts[id(variant)] = QuotedPrintableTemplate(
                variant.untracked.html
            )
        return part

    def envelope_sender_for(self, addressee: Addressee) -> str:
        """SMTP's MAIL FROM: the delivery's VERP bounce address when a bounce domain is
        configured (delivery/bounces.py), otherwise the newsletter's address."""
        return verp_address(addressee.delivery_id) or self.envelope_sender

    def message_id(self, addressee: Addressee) -> str:
        """Stable per delivery row: a resend, were one ever made, would be recognisable."""
        return f"<{addressee.delivery_id}.{self.campaign.pk}.crier@{self.host}>"

    def _fixed_headers(self, *content: str) -> bytes:
        name, address = parseaddr(header_value("From", self.sender))
        lines = [
            f"From: {formataddr((name, address), charset='utf-8')}",
            *([f"Reply-To: {header_value('Reply-To', self.reply_to[0])}"] if self.reply_to else []),
            "MIME-Version: 1.0",
            *content,
        ]
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def _headers(self, addressee: Addressee, unsubscribe_url: str) -> dict[str, str]:
        own = self._own_headers(addressee, unsubscribe_url)
        return {
            "Message-ID": own["Message-ID"],
            "List-Unsubscribe": own["List-Unsubscribe"],
            **self._shared_headers(),
            "X-Crier-Delivery": own["X-Crier-Delivery"],
        }

    def _own_headers(self, addressee: Addressee, unsubscribe_url: str) -> dict[str, str]:
        """The headers that differ from one recipient to the next."""
        targets = [f"<{unsubscribe_url}>"]
        if self.unsubscribe_mailto:
            # Each recipient's own address (delivery/unsubscribe_mail.py reads it back).
            address = self.unsubscribe_mailto.address(addressee.delivery_id)
            targets.append(f"<mailto:{address}?subject=unsubscribe>")
        return {
            "Message-ID": self.message_id(addressee),
            "List-Unsubscribe": ", ".join(targets),
            "X-Crier-Delivery": str(addressee.delivery_id),
        }

    def _shared_headers(self) -> dict[str, str]:
        return {
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": self.list_id,
            "Feedback-ID": self.feedback_id,
            "Precedence": "bulk",
        }

    def merge_template(self, field_format: str) -> "MergeTemplate | None":
        """The campaign as one ESP batch message with merge fields in ``field_format``
        (e.g. Mailgun's ``%recipient.{}%``), or None when the text itself contains the
        field syntax, which the ESP would then substitute by mistake, or when readers
        get different messages (editions, conditional blocks): one call is one message."""
        if self.vary:
            return None
        marker = field_format.split("{}")[0]
        parts = (self.rendered.subject, self.rendered.text, self.rendered.html)
        if any(marker in piece for part in parts for piece in part.pieces):
            return None
        return MergeTemplate(self, field_format)


class MergeTemplate:
    """One ESP call for many recipients: each slot of the compiled parts becomes a merge
    field (``s0``, ``t3``, ``h1``: subject, text, HTML), whose value per recipient is
    exactly what ``build`` would have put there, already escaped for its part."""

    PARTS = ((SUBJECT_FIELD_PREFIX, "subject"), ("t", "text"), ("h", "html"))

    def __init__(self, messages: "CampaignMessages", field_format: str) -> None:
        self.messages = messages
        rendered = messages.rendered
        self.subject, self.text, self.html = (
            _with_fields(getattr(rendered, name), prefix, field_format)
            for prefix, name in self.PARTS
        )

    def split(self, addressees: list[Addressee]) -> tuple[list[Addressee], list[Addressee]]:
        """Those this template can carry, and those whose copy differs in shape (plain
        text only, or untracked where the others' links are tracked): these are sent
        one by one."""
        tracked = self.messages.default.tracked
        shared, own = [], []
        for addressee in addressees:
            apart = addressee.text_only or (addressee.untracked and tracked)
            (own if apart else shared).append(addressee)
        return shared, own

    def build(self, addressees: list[Addressee]) -> EmailMultiAlternatives:
        """One anymail message: ``to`` holds every address (each unique), and merge_data,
        merge_headers and merge_metadata what differs per recipient; anymail sends each
        recipient their own message."""
        messages = self.messages
        merge_data, merge_headers, merge_metadata = {}, {}, {}
        for addressee in addressees:
            recipient = messages._recipient(addressee, messages.default)
            values = messages._values(addressee, recipient, messages.default)
            fields = {}
            for prefix, name in self.PARTS:
                part = getattr(messages.rendered, name)
                for index, value in enumerate(slot_values(part, values, recipient)):
                    fields[f"{prefix}{index}"] = value
            merge_data[addressee.email] = fields
            merge_headers[addressee.email] = messages._own_headers(
                addressee, recipient.unsubscribe_url
            )
            merge_metadata[addressee.email] = {"delivery": delivery_tag(addressee.delivery_id)}
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text,
            from_email=messages.sender,
            to=[addressee.email for addressee in addressees],
            reply_to=messages.reply_to,
            headers=messages._shared_headers(),
        )
        message.attach_alternative(self.html, "text/html")
        message.merge_data = merge_data
        message.merge_headers = merge_headers
        message.merge_metadata = merge_metadata
        message.tags = [f"campaign-{messages.campaign.pk}"]
        return check_headers(message)


class DkimSigner:
    """DKIM (RFC 6376) for SMTP sends, when CRIER_DKIM_* name a domain, selector and key."""

    SIGNED_HEADERS = [
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"reply-to",
        b"list-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"mime-version",
        b"content-type",
    ]

    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        self.domain = domain.encode()
        self.selector = selector.encode()
        self.key = key

    @classmethod
    def from_settings(cls) -> "DkimSigner | None":
        if not (settings.DKIM_DOMAIN and settings.DKIM_SELECTOR and settings.DKIM_PRIVATE_KEY_FILE):
            return None
        with open(settings.DKIM_PRIVATE_KEY_FILE, "rb") as key:
            return cls(settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, key.read())

    def sign(self, message: bytes) -> bytes:
        signature = dkim.sign(
            message, self.selector, self.domain, self.key, include_headers=self.SIGNED_HEADERS
        )
        return signature + message


class QuotedPrintableTemplate:
    """A compiled part whose constant chunks are already quoted-printable.

    Each chunk, and each recipient value, ends with a soft line break ("=" CRLF),
    which decoders remove: the pieces can be encoded apart and simply joined.
    """

    def __init__(self, part: Compiled) -> None:
        holes = dict(part.positions)
        self.pieces: list[bytes | int] = [
            holes[index] if index in holes else _quoted_printable_piece(piece)
            for index, piece in enumerate(part.pieces)
            if index in holes or piece
        ]

    def fill(self, values: list[str]) -> bytes:
        # Each value once, however many holes it fills (a tracked link's reader token).
        encoded = [_quoted_printable_piece(value) for value in values]
        return b"".join(
            encoded[piece] if isinstance(piece, int) else piece for piece in self.pieces
        )


def send_raw(connection: smtplib.SMTP, sender: str, recipient: str, message: bytes) -> None:
    """SMTP MAIL, RCPT and DATA for one prebuilt message, raising smtplib's exceptions.

    ``smtplib.sendmail`` would dot-stuff the message with a regular expression, the
    slowest step left; ``bytes.replace`` does the same (RFC 5321 4.5.2).
    """
    connection.ehlo_or_helo_if_needed()
    code, reply = connection.mail(sender)
    if code != 250:
        connection.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.rcpt(recipient)
    if code not in (250, 251):
        connection.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = connection.docmd("DATA")
    if code != 354:
        connection.rset()
        raise smtplib.SMTPDataError(code, reply)
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    connection.send(stuffed + b".\r\n")
    code, reply = connection.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _has_slot(rendered: Rendered, name: str) -> bool:
    parts = (rendered.subject, rendered.text, rendered.html)
    return any(slot.name == name for part in parts if part for slot in part.slots)


def _with_fields(part: Compiled, prefix: str, field_format: str) -> str:
    holes = dict(part.positions)
    return "".join(
        field_format.format(f"{prefix}{holes[index]}") if index in holes else piece
        for index, piece in enumerate(part.pieces)
    )


def _url_around_token(viewname: str) -> str:
    """The absolute link with ``{}`` where the token goes: one ``reverse`` per campaign."""
    url = absolute_url(viewname, token=TOKEN_HOLE)
    return url.replace("{", "{{").replace("}", "}}").replace(TOKEN_HOLE, "{}")


def _encode_header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _quoted_printable_piece(text: str) -> bytes:
    """RFC 2045 quoted-printable with CRLF line ends, closed by a soft line break.

    The break's "=" must not push the last line past 76 characters: a long last line
    is cut before its final character (or the final "=XX" escape) first.
    """
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    encoded = encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    last_line = encoded[encoded.rfind(b"\n") + 1 :]
    if len(last_line) > 75:
        cut = len(encoded) - (3 if encoded[-3:-2] == b"=" else 1)
        encoded = encoded[:cut] + b"=\r\n" + encoded[cut:]
    return encoded + b"=\r\n"
