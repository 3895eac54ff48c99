"""Signed links to the web version of a campaign as one reader received it.

A campaign that is not public has no page of its own, yet each of its messages
may offer "View in your browser" (``{{ web_version_url }}``). The link names the
reader and carries an HMAC of (campaign, reader) made with ``SECRET_KEY`` under a
salt of its own (Django's ``salted_hmac``), so it opens that reader's copy of that
campaign and nothing else; a guessed or altered link opens nothing. One HMAC per
message, and only for messages whose layout uses the tag, as for VERP addresses.
"""

from django.utils.crypto import constant_time_compare, salted_hmac

from newsletter.links import absolute_url

SALT = "crier.campaigns.web_version"
MAC_LENGTH = 24  # hex digits: 96 bits
TOKEN_HOLE = "READER-TOKEN"  # noqa: S105 (a placeholder, not a secret)


def _mac(campaign_id: int, subscriber_id: int) -> str:
    return salted_hmac(SALT, f"{campaign_id}:{subscriber_id}").hexdigest()[:MAC_LENGTH]


def reader_token(campaign_id: int, subscriber_id: int) -> str:
    return f"{subscriber_id}-{_mac(campaign_id, subscriber_id)}"


def reader_of(campaign_id: int, token: str) -> int | None:
    """The subscriber a token names for this campaign, if its HMAC verifies."""
    subscriber, _, mac = token.partition("-")
    if not subscriber.isdigit() or len(subscriber) > 19:
        return None
    subscriber_id = int(subscriber)
    return subscriber_id if constant_time_compare(mac, _mac(campaign_id, subscriber_id)) else None


class ReaderLinks:
    """One campaign's reader links: the URL is reversed once, each reader adds a token."""

    def __init__(self, campaign) -> None:
        self.campaign_id = campaign.pk
        url = absolute_url(
            "campaigns:reader_web_version",
            newsletter=campaign.newsletter.slug,
            campaign=campaign.slug,
            token=TOKEN_HOLE,
        )
        self.before, _, self.after = url.partition(TOKEN_HOLE)

    def url(self, subscriber_id: int) -> str:
        return f"{self.before}{reader_token(self.campaign_id, subscriber_id)}{self.after}"
