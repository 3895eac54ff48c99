"""Seed the demo newsletter that ``make run`` shows; safe to run any number of times."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from newsletter.models import Membership, Newsletter, Role
from subscribers import services as subscribers
from subscribers.models import ConsentSource, MailingList, Subscriber
from subscribers.tokens import Claim

ADMIN_USERNAME = "admin"
DEMO_LISTS = [
    ("announcements", "Announcements", "Big news, a few times a year."),
    ("releases", "Releases", "Every release, with its changelog."),
]
DEMO_SUBSCRIBERS = [
    ("ada@example.org", "Ada", "en"),
    ("grace@example.org", "Grace", "en"),
    ("marie@example.org", "Marie", "fr"),
]


class Command(BaseCommand):
    help = "Create the demo newsletter and the admin account (idempotent)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            admin, password = self._admin()
            newsletter = self._newsletter()
            Membership.objects.get_or_create(
                newsletter=newsletter, user=admin, defaults={"role": Role.OWNER}
            )
            self._audience(newsletter)
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

    def _audience(self, newsletter: Newsletter) -> None:
        """The public lists and a few confirmed subscribers, through the real services."""
        lists = [
            MailingList.objects.get_or_create(
                newsletter=newsletter,
                slug=slug,
                defaults={"name": name, "description": description},
            )[0]
            for slug, name, description in DEMO_LISTS
        ]
        for email, name, language in DEMO_SUBSCRIBERS:
            if Subscriber.objects.filter(email=email).exists():
                continue
            subscribers.subscribe(
                newsletter=newsletter,
                email=email,
                name=name,
                language=language,
                lists=lists,
                source=ConsentSource.DASHBOARD,
                wording=newsletter.consent_text,
            )
            subscriber = Subscriber.objects.get(email=email)
            subscribers.confirm(claim=Claim(subscriber.pk, newsletter.pk))
