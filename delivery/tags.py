"""The delivery id Crier hands an ESP as message metadata, signed.

ESPs echo the metadata in their tracking webhooks. Delivery ids are sequential, so a
bare one could be guessed by anyone able to post to a webhook; a signed tag cannot.
"""

from django.core import signing

SALT = "delivery.feedback.delivery-tag"


def delivery_tag(delivery_id: int) -> str:
    """What an ESP carries for us (``metadata["delivery"]``)."""
    return signing.Signer(salt=SALT).sign(str(delivery_id))


def tagged_delivery_id(value) -> int | None:
    """The id in a tag we signed, or None (missing, bare, or forged)."""
    try:
        return int(signing.Signer(salt=SALT).unsign(str(value)))
    except (signing.BadSignature, TypeError, ValueError):
        return None
