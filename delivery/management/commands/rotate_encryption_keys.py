"""Re-encrypt stored secrets under the first of CRIER_ENCRYPTION_KEYS (after adding a key)."""

from django.core.management.base import BaseCommand, CommandError

from delivery import sending_backends
from newsletter.encryption import DecryptionError


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of CRIER_ENCRYPTION_KEYS; "
        "afterwards the older keys can be removed."
    )

    def handle(self, *args, **options) -> None:
        try:
            rotated = sending_backends.rotate_secrets()
        except DecryptionError as error:
            raise CommandError(f"{error} Nothing was changed.") from error
        self.stdout.write(f"Re-encrypted the secrets of {rotated} sending backend(s).")
