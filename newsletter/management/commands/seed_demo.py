"""Seed the demo newsletter that ``make run`` shows; safe to run any number of times."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign, Status
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
            self._campaigns(newsletter, admin)
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
            if Subscriber.objects.filter(newsletter=newsletter, email=email).exists():
                continue
            outcome = subscribers.subscribe(
                newsletter=newsletter,
                email=email,
                name=name,
                language=language,
                lists=lists,
                source=ConsentSource.DASHBOARD,
                wording=newsletter.consent_text,
            )
            if outcome.subscriber is not None:  # None: the address was erased or suppressed
                subscribers.confirm(claim=Claim(outcome.subscriber.pk, newsletter.pk))

    def _campaigns(self, newsletter: Newsletter, admin) -> None:
        """The stock layouts, a draft and a sent public campaign; each made only once."""
        announcement, release_notes, _ = campaign_services.install_default_layouts(
            newsletter=newsletter
        )
        if not Campaign.objects.filter(newsletter=newsletter, slug=DRAFT["slug"]).exists():
            campaign_services.campaign_create(
                newsletter=newsletter, created_by=admin, layout=release_notes, **DRAFT
            )
        if not Campaign.objects.filter(newsletter=newsletter, slug=SENT["slug"]).exists():
            sent = campaign_services.campaign_create(
                newsletter=newsletter, created_by=admin, layout=announcement, **SENT
            )
            # Demo data: marked sent so the archive and feed have an entry; no mail left.
            Campaign.objects.filter(pk=sent.pk).update(status=Status.SENT, sent_at=timezone.now())


DRAFT = {
    "name": "Demo 2.0 release notes",
    "slug": "demo-2-0",
    "subject": "Demo 2.0: plugins and a faster start",
    "preheader": "What changed, and how to upgrade in one command.",
    "public": True,
    "body": """Hello {{ subscriber.name|default:"there" }},

Demo **2.0** is ready. It brings a plugin API and starts three times faster on large projects.

```console
$ pip install --upgrade demo==2.0.0
```

---

## Added
- A plugin API (`demo.plugins`); see [the plugin guide](https://demo.example.org/docs/plugins).
- `--json` output for every command.

## Fixed
- Startup no longer scans ignored folders.

| Platform | Status |
|---|---|
| Linux | supported |
| macOS | supported |
| Windows | beta |
""",
}
SENT = {
    "name": "Welcome to Demo Project News",
    "slug": "welcome",
    "subject": "Welcome to Demo Project News",
    "preheader": "What this newsletter is for, and how often it comes.",
    "public": True,
    "body": """Hello {{ subscriber.name|default:"there" }},

This is the newsletter of the Demo Project. We write when there is a release, an event or
a call for help: about once a month, never more than twice.

You can [read the documentation](https://demo.example.org/docs) or
[join the forum](https://forum.demo.example.org) in the meantime.

Thank you for following the project!
""",
}
