from django.dispatch import Signal

# Sent once, by the sending engine, when every message of a campaign has been handled
# and the campaign moved to ``sent``; with ``campaign`` (a Campaign). Sent inside the
# transaction that recorded it: receivers only write rows.
campaign_sent = Signal()
