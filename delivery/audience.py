"""Who receives a campaign, as one rule in SQL (``AUDIENCE_SELECT``), and everything
derived from it: the count shown before sending, the rows inserted when sending starts
(``create_deliveries``) and the re-check before each message (``eligible``). The count
shown is the count sent because all three build on ``audience_sql``.
"""

import hashlib
import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from audiences.rules import Compiled
from audiences.services import segment_compile
from campaigns.models import Campaign
from campaigns.services import editions_to_send
from subscribers.models import MailingList, SubscriptionStatus

from . import ledger, timing
from .errors import CampaignStateError

logger = logging.getLogger(__name__)


# Who receives a campaign, as one rule in SQL: confirmed on any of its lists, active,
# not paused, not suppressed in the contact's newsletter nor on the whole instance (two
# probes, one per partial unique index of the suppressions). Used to count (before
# sending) and to insert (when sending).
AUDIENCE_SELECT = """
SELECT s.id, s.time_zone
FROM subscribers_subscriber s
WHERE s.status = 'active'
  AND s.email IS NOT NULL
  AND NOT s.paused_indefinitely
  AND (s.paused_until IS NULL OR s.paused_until <= %(now)s)
  AND EXISTS (
      SELECT 1 FROM subscribers_subscription sub
      WHERE sub.subscriber_id = s.id AND sub.status = 'confirmed'
        AND sub.mailing_list_id = ANY(%(lists)s))
  AND NOT EXISTS (
      SELECT 1 FROM subscribers_suppression sp
      WHERE sp.email_digest = s.email_digest AND sp.newsletter_id IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM subscribers_suppression sp
      WHERE sp.email_digest = s.email_digest AND sp.newsletter_id = s.newsletter_id)
"""
READER_LANGUAGE = "lower(replace(trim(s.language), '_', '-')) AS reader_language"
# Each row records the edition its reader gets, by the rule of campaigns.editions
# (exact language, else its first part, else the campaign itself): the CASE keeps the
# lookup away from campaigns without editions.
EDITION = """
    CASE WHEN cardinality(%(editions)s::text[]) = 0 THEN %(default)s ELSE COALESCE(
        (SELECT e FROM unnest(%(editions)s::text[]) e
         WHERE e = audience.reader_language
            OR e = split_part(audience.reader_language, '-', 1)
         ORDER BY length(e) DESC LIMIT 1),
        %(default)s) END"""
# Each person as their delivery row records them (``ledger.INSERT_ROWS`` writes it):
# ``{audience}`` is ``audience_sql``'s statement with the reader's language (and time
# zone) beside each id.
AUDIENCE_ROWS = (
    """
SELECT audience.id, FALSE AS in_digest, NULL::timestamptz AS next_attempt_at,
       NULL::timestamptz AS digest_due_at,"""
    + EDITION
    + """ AS edition
FROM ({audience}) audience
"""
)
# The same, when someone on the lists reads them in a digest or the campaign goes at a
# local hour: each row's timing from its reader's frequency and time zone
# (delivery/timing.py). Kept apart so that the common campaign pays for neither.
TIMED_AUDIENCE_ROWS = f"""
SELECT audience.id, audience.rank <> 0 AS in_digest,
       CASE WHEN audience.rank = 0 THEN zone.hour_at END AS next_attempt_at,
       CASE audience.rank WHEN 1 THEN zone.week_end WHEN 2 THEN zone.month_end END
           AS digest_due_at,{EDITION} AS edition
FROM (
    SELECT a.id, a.reader_language, COALESCE(NULLIF(a.time_zone, ''), %(zone)s) AS zone_name,
           (SELECT MIN({timing.FREQUENCY_RANK_SQL})
            FROM subscribers_subscription sub
            WHERE sub.subscriber_id = a.id AND sub.status = 'confirmed'
              AND sub.mailing_list_id = ANY(%(lists)s)) AS rank
    FROM ({{audience}}) a
) audience
LEFT JOIN unnest(%(zones)s::text[], %(hour_at)s::timestamptz[], %(week_end)s::timestamptz[],
                 %(month_end)s::timestamptz[]) AS zone(name, hour_at, week_end, month_end)
    ON zone.name = audience.zone_name
"""  # noqa: S608 (constant SQL; every value is a bound parameter)


def audience_sql(*, list_ids: Iterable[int], segment: Compiled | None = None) -> tuple[str, dict]:
    """The send path's audience, the one place it is built: ``AUDIENCE_SELECT`` over these
    lists, narrowed by a compiled segment (``audiences.rules``), as SQL and its named
    parameters. Counting (``audience_count``), inserting (``create_deliveries``) and
    re-checking (``eligible``) all use it, so the count shown is the count sent; the
    segment is ANDed on, so no rule can switch the consent rules off."""
    params = {"lists": list(list_ids), "now": timezone.now()}
    if segment is None:
        return AUDIENCE_SELECT, params
    return f"{AUDIENCE_SELECT}  AND ({segment.sql})\n", {**segment.params, **params}


def audience_lists(*, newsletter_id: int, chosen: Iterable[int], segment: bool) -> list[int]:
    """The lists an audience draws from: the newsletter's active lists among ``chosen``,
    or all of its active lists when a segment is chosen with no list (the segment alone
    says who). Archived lists get no new sends."""
    lists = MailingList.objects.active().filter(newsletter_id=newsletter_id)
    chosen = list(chosen)
    if chosen or not segment:
        lists = lists.filter(pk__in=chosen)
    return list(lists.values_list("pk", flat=True))


def _campaign_lists(campaign: Campaign) -> list[int]:
    return audience_lists(
        newsletter_id=campaign.newsletter_id,
        chosen=campaign.lists.values_list("pk", flat=True),
        segment=campaign.segment_id is not None,
    )


def campaign_audience(campaign: Campaign) -> tuple[list[int], Compiled | None]:
    """Who a campaign goes to: its lists (``_campaign_lists``) and its segment compiled
    now. Raises CampaignStateError naming what broke in a segment since it was saved."""
    if campaign.segment_id is None:
        return _campaign_lists(campaign), None
    try:
        compiled = segment_compile(segment=campaign.segment)
    except ValidationError as error:
        problems = "; ".join(
            f"{part}: {' '.join(messages)}" for part, messages in error.message_dict.items()
        )
        raise CampaignStateError(
            gettext("Its segment %(name)s cannot be used: %(problems)s")
            % {"name": campaign.segment.name, "problems": problems}
        ) from None
    return _campaign_lists(campaign), compiled


AUDIENCE_COUNT_SECONDS = 30


def audience_count(*, list_ids: Iterable[int], segment: Compiled | None = None) -> int:
    """How many people these lists (narrowed by ``segment``) would reach if a campaign
    were sent to them now.

    Counting a million subscribers takes a noticeable fraction of a second, and the
    send page asks again at each tick of a list, so a count is reused for
    AUDIENCE_COUNT_SECONDS; the exact number is fixed when sending starts.
    """
    list_ids = sorted(set(list_ids))
    key = "delivery:audience:" + ",".join(map(str, list_ids))
    if segment is not None:
        digest = hashlib.sha256(repr((segment.sql, sorted(segment.params.items()))).encode())
        key += ":" + digest.hexdigest()
    count = cache.get(key)
    if count is None:
        sql, params = audience_sql(list_ids=list_ids, segment=segment)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) audience", params)  # noqa: S608
            count = cursor.fetchone()[0]
        cache.set(key, count, timeout=AUDIENCE_COUNT_SECONDS)
    return count


def segment_audience_count(*, newsletter_id: int, segment: Compiled) -> int:
    """How many people a campaign with this segment and no list would reach now: the
    segment builder's and the API's "can be mailed" count."""
    lists = audience_lists(newsletter_id=newsletter_id, chosen=(), segment=True)
    return audience_count(list_ids=lists, segment=segment)


def create_deliveries(*, campaign: Campaign) -> int:
    """One row per person in the audience, in one statement; a person on several lists once.

    Inserted in subscriber order, so the three indexes every row enters (the primary
    key, the unique (campaign, subscriber), (campaign, status, id)) grow at their
    right edge, however many campaigns the table already holds. Called
    once per campaign under its row lock; the unique constraint makes a second call
    fail rather than duplicate anything. Archived lists are left out: they get no new
    sends. Only the campaign's own newsletter's lists: whatever a campaign names, it
    never reaches another newsletter's contacts.
    """
    list_ids, segment = campaign_audience(campaign)
    sql, params = audience_sql(list_ids=list_ids, segment=segment)
    rows = AUDIENCE_ROWS
    if campaign.local_hour is not None or timing.digest_readers_on(params["lists"]):
        rows = TIMED_AUDIENCE_ROWS
        params.update(
            timing.zone_table(now=params["now"], local_hour=campaign.local_hour),
            zone=campaign.newsletter.timezone,
        )
    editions = {
        "editions": editions_to_send(campaign=campaign),
        "default": campaign.newsletter.language,
    }
    # Constant SQL around a compiled segment; every value is a bound parameter.
    audience = sql.replace("SELECT s.id", f"SELECT s.id, {READER_LANGUAGE}", 1)
    return ledger.add_rows(
        campaign_id=campaign.pk,
        rows=rows.format(audience=audience),
        params={**params, **editions},
        now=params["now"],
    )


# The audience's people among some ids, each with the first of the lists they are on.
ELIGIBLE = """
SELECT DISTINCT ON (sub.subscriber_id) sub.subscriber_id, ml.name, ml.id
FROM ({audience}) audience
JOIN subscribers_subscription sub ON sub.subscriber_id = audience.id
JOIN subscribers_mailinglist ml ON ml.id = sub.mailing_list_id
WHERE audience.id = ANY(%(ids)s) AND sub.status = %(confirmed)s
  AND sub.mailing_list_id = ANY(%(lists)s)
ORDER BY sub.subscriber_id, ml.name
"""


def eligible(subscriber_ids: Iterable[int], campaign: Campaign) -> dict[int, tuple[str, int]]:
    """Of these subscribers, those who may still receive the campaign now, with the name
    and id of the first campaign list they are on (the ``{{ list.name }}`` merge tag, and
    the list the unsubscribe page offers to leave). Someone who left the campaign's
    segment since it started is no longer eligible either."""
    try:
        list_ids, segment = campaign_audience(campaign)
    except CampaignStateError:
        # Broken after its rows were written (an admin's edit): the segment chose its
        # people at the start; consent is still checked below.
        logger.warning("segment not rechecked", extra={"campaign": campaign.pk})
        list_ids, segment = _campaign_lists(campaign), None
    sql, params = audience_sql(list_ids=list_ids, segment=segment)
    with connection.cursor() as cursor:
        cursor.execute(
            ELIGIBLE.format(audience=sql),
            {**params, "ids": list(subscriber_ids), "confirmed": SubscriptionStatus.CONFIRMED},
        )
        return {subscriber_id: (name, list_id) for subscriber_id, name, list_id in cursor}
