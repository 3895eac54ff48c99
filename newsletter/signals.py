from django.dispatch import Signal

# Sent by ``services.newsletter_create`` inside its transaction, with ``newsletter``
# (the new Newsletter): apps above this one give it what it starts with (the
# campaigns app its stock layouts) without this app importing them.
newsletter_created = Signal()
