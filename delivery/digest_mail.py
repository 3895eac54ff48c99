"""The digest mail: one message gathering a period's issues for one reader, each with
its title, preheader, a short excerpt and its web link (docs/choice.md#digests).

It carries the same bulk-sender headers as a campaign's messages (RFC 2369 and 8058
one-click unsubscribe, RFC 2919 List-Id, Feedback-ID, Precedence) and its own stable
Message-ID, and is checked for header injection like them (``check_headers``).
"""

import re
from dataclasses import dataclass

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.text import Truncator
from django.utils.translation import gettext
from markdown_it import MarkdownIt

from campaigns.models import BodyFormat, Campaign
from campaigns.reader_links import ReaderLinks
from campaigns.services import archive_url
from newsletter.links import absolute_url
from subscribers import tokens
from subscribers.models import Subscriber

from .headercheck import check_headers
from .messages import _encode_header, site_host

EXCERPT_CHARACTERS = 280
TEMPLATE_TAG = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)


@dataclass(frozen=True)
class Issue:
    title: str
    preheader: str
    excerpt: str
    url: str


def excerpt(campaign: Campaign, body: str) -> str:
    """The body's opening words as plain text: merge tags and conditional blocks left
    out (a digest is not personalised per campaign), cut at a word."""
    body = TEMPLATE_TAG.sub("", body)
    if campaign.body_format == BodyFormat.MARKDOWN:
        body = MarkdownIt("commonmark").render(body)
    text = " ".join(strip_tags(body).split())
    return Truncator(text).chars(EXCERPT_CHARACTERS)


def issue_of(campaign: Campaign, subscriber_id: int, edition: str = "") -> Issue:
    """The issue in the edition the reader's row names (``Delivery.edition``), else the
    campaign's own words. A public issue links to its archive page; any other to the
    reader's own signed copy."""
    words = campaign.editions.filter(language=edition).first() if edition else None
    words = words or campaign
    url = archive_url(campaign) if campaign.public else ReaderLinks(campaign).url(subscriber_id)
    return Issue(words.subject, words.preheader, excerpt(campaign, words.body), url)


def build(
    *,
    digest_id: int,
    subscriber: Subscriber,
    campaigns: list[Campaign],
    editions: dict[int, str] | None = None,
) -> EmailMultiAlternatives:
    newsletter = subscriber.newsletter
    claim = tokens.Claim(subscriber.pk, newsletter.pk)
    unsubscribe_url = absolute_url("subscribers:unsubscribe", token=tokens.unsubscribe_token(claim))
    context = {
        "newsletter": newsletter,
        "subscriber": subscriber,
        "issues": [
            issue_of(campaign, subscriber.pk, (editions or {}).get(campaign.pk, ""))
            for campaign in campaigns
        ],
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": absolute_url(
            "subscribers:preferences", token=tokens.preferences_token(claim)
        ),
    }
    with translation.override(subscriber.language or newsletter.language or None):
        subject = gettext("%(newsletter)s: your digest of %(count)s issues") % {
            "newsletter": newsletter.name,
            "count": len(campaigns),
        }
        text = render_to_string("delivery/digest_mail.txt", context)
        html = render_to_string("delivery/digest_mail.html", context)
    host = site_host()
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=newsletter.sender,
        to=[subscriber.email],
        reply_to=[newsletter.reply_to] if newsletter.reply_to else None,
        headers={
            "Message-ID": message_id(digest_id),
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{_encode_header(newsletter.name)} <{newsletter.slug}.{host}>",
            "Feedback-ID": f"digest:{newsletter.slug}:crier",
            "Precedence": "bulk",
            "X-Crier-Digest": str(digest_id),
        },
    )
    if subscriber.mail_format != "text":
        message.attach_alternative(html, "text/html")
    message.tags = ["digest"]
    return check_headers(message)


def message_id(digest_id: int) -> str:
    """Stable per digest, and unlike any campaign row's (``<row>.<campaign>.crier@``)."""
    return f"<digest-{digest_id}.crier@{site_host()}>"
