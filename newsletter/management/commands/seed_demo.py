"""Seed the demo newsletter that ``make run`` shows; safe to run any number of times."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from newsletter.models import Membership, Newsletter, Role

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the demo newsletter and the admin account (idempotent)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            admin, password = self._admin()
            newsletter = self._newsletter()
            Membership.objects.get_or_create(
                newsletter=newsletter, user=admin, defaults={"role": Role.OWNER}
            )
        self.stdout.write(f"Demo newsletter: {newsletter.name} (/dashboard/n/{newsletter.slug}/)")
        if password:
            self.stdout.write(
                self.style.SUCCESS(f"Log in at /dashboard/ as {ADMIN_USERNAME} / {password}")
            )
        else:
            self.stdout.write(
                f"Log in at /dashboard/ as {ADMIN_USERNAME} with the password printed when it "
                "was created (set CRIER_ADMIN_PASSWORD and run again to change it)."
            )

    def _admin(self):
        """Return the admin and the password to print, or an empty one if it is unchanged."""
        user_model = get_user_model()
        wanted = os.environ.get("CRIER_ADMIN_PASSWORD", "")
        admin = user_model.objects.filter(username=ADMIN_USERNAME).first()
        if admin is not None and not wanted:
            return admin, ""
        password = wanted or secrets.token_urlsafe(12)
        if admin is None:
            admin = user_model.objects.create_superuser(
                ADMIN_USERNAME, email="admin@example.org", password=password
            )
        else:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        return admin, password

    def _newsletter(self) -> Newsletter:
        newsletter, _ = Newsletter.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo Project News",
                "description": "Releases and announcements from the Demo Project community.",
                "from_name": "Demo Project",
                "from_email": "news@demo.example.org",
                "reply_to": "maintainers@demo.example.org",
                "postal_address": "Demo Project Association\n1 Example Street\n75000 Paris, France",
            },
        )
        return newsletter
