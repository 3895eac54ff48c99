"""An experiment's two moves on a campaign's ledger: hold all but a sample, then release.

When a campaign with an experiment starts, ``sample_split`` gives a random sample of its
rows a variant (split evenly: sizes differ by one at most) and holds the rest
(``held``: never claimed by a worker, and the campaign is not finished while any is
left). When the winner is chosen, ``rest_release`` puts the held rows back in the queue,
once: a row leaves ``held`` only through it, so a second call finds nothing to release.
Both are single statements (``delivery.ledger``), run by the caller under the
campaign's row lock.
"""

from campaigns.models import Campaign

from . import ledger


def sample_split(*, campaign: Campaign, size: int, labels: list[str]) -> dict[str, int]:
    """Give ``size`` random rows of a just-started campaign a variant, hold the others.

    Returns how many rows each variant got. The caller checked that ``size`` is at
    most the number of rows.
    """
    ledger.hold_all_but_sample(campaign_id=campaign.pk, size=size, labels=labels)
    return {
        label: size // len(labels) + (index < size % len(labels))
        for index, label in enumerate(labels)
    }


def rest_release(*, campaign: Campaign) -> int:
    """The held rows go to the queue (they get the campaign's own message, which is the
    winner's by then); returns how many. Nothing else moves a row out of ``held``."""
    return ledger.release_held(campaign_id=campaign.pk)
