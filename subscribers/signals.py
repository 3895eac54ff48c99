from django.dispatch import Signal

# Sent inside the transaction that erases a contact, once per contact, with ``contact``
# (the emptied row), ``email`` and ``name`` (what it held) and ``everywhere`` (the
# person's own "erase me", rather than one newsletter's erasure). Other apps empty
# their own copies in the same transaction (delivery: errors, feedback details and
# outbox copies; tracking: events and IP addresses; webhooks: payloads), so an
# erasure is complete or does not happen.
subscriber_erased = Signal()

# Sent inside the transaction that made the change, with ``subscriber``, ``newsletter``
# and ``lists`` (the MailingLists concerned), so a receiver's own rows (the webhook
# outbox) commit or roll back with it. Receivers must only write rows: anything that
# leaves the process belongs in a task queued with ``delay_on_commit``.
# subscriptions started (pending a confirmation, or confirmed at once); also with
# ``referrer``: the subscriber whose referral link brought the person, or None.
subscribed = Signal()
confirmed = Signal()  # subscriptions confirmed (by the link, at once, or attested)
# subscriptions ended; also with ``campaign_id`` when the person left through that
# campaign's mail (its link, one-click header, unsubscribe address or the ESP), else None.
unsubscribed = Signal()
