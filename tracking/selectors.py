"""Reads for the endpoints: one per hit at most, cached in the process.

The statistics are in ``stats`` (they read the delivery ledger's progress).
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass

from campaigns.models import Campaign

from .models import Link

# A policy change reaches every web process within this many seconds.
POLICY_SECONDS = 30
CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Policy:
    mode: str
    record_ip: bool


_policies: dict[int, tuple[float, Policy | None]] = {}
_links: dict[int, tuple[int, str]] = {}


def tracking_policies(campaign_ids: Iterable[int]) -> dict[int, Policy]:
    """The newsletter's tracking policy of each campaign that exists, read now."""
    rows = Campaign.objects.filter(pk__in=list(campaign_ids)).values_list(
        "pk", "newsletter__tracking_policy", "newsletter__record_tracking_ip"
    )
    return {pk: Policy(mode, record_ip) for pk, mode, record_ip in rows}


def tracking_policy(campaign_id: int) -> Policy | None:
    """The policy for one hit, read at most every POLICY_SECONDS per process."""
    now = time.monotonic()
    cached = _policies.get(campaign_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    if len(_policies) > CACHE_LIMIT:
        _policies.clear()
    policy = tracking_policies([campaign_id]).get(campaign_id)
    _policies[campaign_id] = (now + POLICY_SECONDS, policy)
    return policy


def link_url(*, campaign_id: int, link_id: int) -> str | None:
    """The URL of a link of this campaign; links never change, so they are cached."""
    cached = _links.get(link_id)
    if cached is None:
        row = Link.objects.filter(pk=link_id).values_list("campaign_id", "url").first()
        if row is None:
            return None
        if len(_links) > CACHE_LIMIT:
            _links.clear()
        cached = _links[link_id] = row
    return cached[1] if cached[0] == campaign_id else None


def forget() -> None:
    """Empty this process's caches (tests change policies between requests)."""
    _policies.clear()
    _links.clear()
