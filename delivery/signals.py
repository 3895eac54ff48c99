"""Signals other apps may hook (outgoing webhooks, for one). Sent after the commit that
recorded the event, once per delivery, never for a repeated event.

``delivery_bounced``: sender=Delivery, ``delivery``, ``subscriber``, ``bounce_type``
("hard" or "soft"; a soft bounce later confirmed hard is sent again as "hard").
``delivery_complained``: sender=Delivery, ``delivery``, ``subscriber``.
"""

from django.dispatch import Signal

delivery_bounced = Signal()
delivery_complained = Signal()
