"""Build the one message a subscriber receives from a campaign, with every header
Gmail's and Yahoo's bulk-sender rules ask for (RFC 2369, RFC 8058, RFC 2919)."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from campaigns.models import Campaign
from campaigns.rendering import Recipient, Rendered, personalize
from campaigns.services import archive_url
from newsletter.links import absolute_url
from subscribers import tokens


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


class CampaignMessages:
    """Everything per campaign is computed once; ``build`` does only the per-recipient part."""

    def __init__(self, campaign: Campaign, rendered: Rendered) -> None:
        newsletter = campaign.newsletter
        self.campaign = campaign
        self.rendered = rendered
        self.newsletter_id = newsletter.pk
        self.sender = newsletter.sender
        self.reply_to = [newsletter.reply_to] if newsletter.reply_to else None
        self.host = site_host()
        self.list_id = f"{newsletter.name} <{newsletter.slug}.{self.host}>"
        self.feedback_id = f"{campaign.pk}:{newsletter.slug}:crier"
        self.web_version = archive_url(campaign) if campaign.public else ""
        self.unsubscribe_mailto = settings.UNSUBSCRIBE_MAILTO

    def build(self, addressee: Addressee) -> EmailMultiAlternatives:
        claim = tokens.Claim(addressee.subscriber_id, self.newsletter_id)
        unsubscribe_url = absolute_url(
            "subscribers:unsubscribe", token=tokens.unsubscribe_token(claim)
        )
        content = personalize(
            self.rendered,
            Recipient(
                email=addressee.email,
                name=addressee.name,
                attributes=addressee.attributes,
                list_name=addressee.list_name,
                unsubscribe_url=unsubscribe_url,
                preferences_url=absolute_url(
                    "subscribers:preferences", token=tokens.preferences_token(claim)
                ),
                web_version_url=self.web_version,
            ),
        )
        message = EmailMultiAlternatives(
            subject=content.subject,
            body=content.text,
            from_email=self.sender,
            to=[addressee.email],
            reply_to=self.reply_to,
            headers=self._headers(addressee, unsubscribe_url),
        )
        message.attach_alternative(content.html, "text/html")
        # Read by anymail backends (ESP metadata, echoed back in tracking webhooks).
        message.metadata = {"delivery": str(addressee.delivery_id)}
        message.tags = [f"campaign-{self.campaign.pk}"]
        return message

    def _headers(self, addressee: Addressee, unsubscribe_url: str) -> dict[str, str]:
        targets = [f"<{unsubscribe_url}>"]
        if self.unsubscribe_mailto:
            targets.append(f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe>")
        return {
            "Message-ID": f"<{addressee.delivery_id}.{self.campaign.pk}.crier@{self.host}>",
            "List-Unsubscribe": ", ".join(targets),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": self.list_id,
            "Feedback-ID": self.feedback_id,
            "Precedence": "bulk",
            "X-Crier-Delivery": str(addressee.delivery_id),
        }
