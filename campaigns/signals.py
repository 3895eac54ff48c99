from django.dispatch import Signal

# Sent once, by the sending engine, when every message of a campaign has been handled
# and the campaign moved to ``sent``; with ``campaign`` (a Campaign). Sent inside the
# transaction that recorded it: receivers only write rows.
campaign_sent = Signal()

# Sent by the sending engine inside the transaction that created a campaign's delivery
# rows, before anything is dispatched; with ``campaign``. A receiver may change those
# rows (an experiment holds all but its sample) or raise the engine's
# ``CampaignStateError`` to refuse the start, which rolls the rows back.
campaign_starting = Signal()
