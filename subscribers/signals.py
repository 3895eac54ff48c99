from django.dispatch import Signal

# Sent after a subscriber's personal data is erased, with ``email`` (the address it
# had), so other apps can drop their own copies (delivery's outbox does).
subscriber_erased = Signal()

# Sent inside the transaction that made the change, with ``subscriber``, ``newsletter``
# and ``lists`` (the MailingLists concerned), so a receiver's own rows (the webhook
# outbox) commit or roll back with it. Receivers must only write rows: anything that
# leaves the process belongs in a task queued with ``delay_on_commit``.
# subscriptions started (pending a confirmation, or confirmed at once); also with
# ``referrer``: the subscriber whose referral link brought the person, or None.
subscribed = Signal()
confirmed = Signal()  # subscriptions confirmed (by the link, at once, or attested)
unsubscribed = Signal()  # subscriptions ended
