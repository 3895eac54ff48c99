from django.dispatch import Signal

# Sent after a subscriber's personal data is erased, with ``email`` (the address it
# had), so other apps can drop their own copies (delivery's outbox does).
subscriber_erased = Signal()
