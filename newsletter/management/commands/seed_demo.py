"""Seed the demo newsletter that ``make run`` shows; safe to run any number of times."""

import os
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from audiences.services import segment_create
from automations import services as automations
from automations.models import Automation, Trigger
from campaigns import services as campaign_services
from campaigns.models import Campaign
from delivery import lifecycle, sending_backends
from delivery import tasks as delivery_tasks
from delivery.models import Delivery, DeliveryStatus
from experiments import services as experiments
from experiments.models import Decision, Metric, SampleKind
from feeds import services as feeds
from feeds.models import Feed
from newsletter.models import Membership, Newsletter, Role
from participation.models import Call, Consultation, Goal, ParticipationSettings
from participation.services import calls, consultations, goals, transparency
from subscribers import fields
from subscribers import services as subscribers
from subscribers.models import ConsentSource, MailingList, Subscriber
from subscribers.tokens import Claim
from tracking import services as tracking
from tracking import tokens
from tracking.agents import classify

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
DEMO_FIELD_VALUES = {
    "ada@example.org": {"sdk": "python", "contributor_since": "2019-03-01"},
    "grace@example.org": {"sdk": "rust", "contributor_since": "2021-11-15"},
    "marie@example.org": {"sdk": "python"},
}
DEMO_SEGMENT = "Python SDK users"


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
            self._segments(newsletter)
            # Before the campaigns: the draft and the sent one carry their blocks.
            self._participation(newsletter, admin)
            self._campaigns(newsletter, admin)
            self._experiment(newsletter, admin)
            self._answers(newsletter)
            self._feed(newsletter, admin)
            self._welcome_series(newsletter, admin)
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
        first = None
        for email, name, language in DEMO_SUBSCRIBERS:
            existing = Subscriber.objects.filter(newsletter=newsletter, email=email).first()
            if existing is not None:
                first = first or existing
                continue
            outcome = subscribers.subscribe(
                newsletter=newsletter,
                email=email,
                name=name,
                language=language,
                lists=lists,
                source=ConsentSource.DASHBOARD,
                wording=newsletter.consent_text,
                # The others came through the first one's referral link.
                referrer=first,
            )
            if outcome.subscriber is not None:  # None: the address was erased or suppressed
                subscribers.confirm(claim=Claim(outcome.subscriber.pk, newsletter.pk))
                first = first or outcome.subscriber

    def _segments(self, newsletter: Newsletter) -> None:
        """Two custom fields with values, and a saved segment that uses one (issue 15)."""
        if not newsletter.field_definitions.filter(key="sdk").exists():
            fields.field_create(
                newsletter=newsletter,
                key="sdk",
                label="SDK",
                type="choice",
                choices=["python", "rust", "go"],
                description="The project's SDK they use most.",
                shown_to_reader=True,
                editable_by_reader=True,
            )
        if not newsletter.field_definitions.filter(key="contributor_since").exists():
            fields.field_create(
                newsletter=newsletter,
                key="contributor_since",
                label="Contributor since",
                type="date",
                description="The date of their first merged contribution.",
            )
        for email, values in DEMO_FIELD_VALUES.items():
            contact = Subscriber.objects.filter(newsletter=newsletter, email=email).first()
            if contact is not None and not contact.attributes.get("sdk"):
                subscribers.update_subscriber(
                    newsletter=newsletter, subscriber=contact, attributes=values
                )
        if not newsletter.segments.filter(name=DEMO_SEGMENT).exists():
            segment_create(
                newsletter=newsletter,
                name=DEMO_SEGMENT,
                description="Everyone on Releases who uses the Python SDK.",
                rules={
                    "all": [
                        {"field": "list", "op": "confirmed", "value": "releases"},
                        {"field": "sdk", "op": "eq", "value": "python"},
                    ]
                },
            )

    def _participation(self, newsletter: Newsletter, admin) -> None:
        """A consultation, an open call with contributions, a goal, the transparency page."""
        if not Consultation.objects.filter(newsletter=newsletter, slug="topics").exists():
            consultations.consultation_create(
                newsletter=newsletter,
                created_by=admin,
                title="What should we write about?",
                slug="topics",
                description="Three taps to shape the next issues.",
                public_results=True,
                questions=[
                    consultations.QuestionSpec(
                        "multiple",
                        "Which topics interest you?",
                        ["Releases", "Tutorials", "Events"],
                    ),
                    consultations.QuestionSpec("scale", "How useful was Demo 1.x for you?"),
                ],
            )
        if not Call.objects.filter(newsletter=newsletter, slug="showcase").exists():
            call = calls.call_create(
                newsletter=newsletter,
                created_by=admin,
                title="Showcase: what did you build with Demo 2.0?",
                slug="showcase",
                description="Tell us what you built with Demo 2.0; the best go in the next issue.",
            )
            for title, text, credit, accepted in DEMO_CONTRIBUTIONS:
                submission = calls.submission_create(
                    call=call, title=title, text=text, credit_name=credit, consent=True
                )
                if accepted:
                    calls.submission_accept(submission=submission, user=admin)
        if not Goal.objects.filter(newsletter=newsletter, slug="sprint").exists():
            goal = goals.goal_create(
                newsletter=newsletter,
                title="Fund the 2027 speed sprint",
                slug="sprint",
                description="A week for two maintainers to make Demo start faster.",
                kind="money",
                currency="EUR",
                target="5000",
                cta_label="Donate",
                cta_url="https://opencollective.com/demo-project",
            )
            goals.goal_progress(
                goal=goal, kind="add", amount="1250", source="dashboard", actor=admin.username
            )
        ParticipationSettings.objects.get_or_create(
            newsletter=newsletter, defaults={"transparency_page": True}
        )

    def _answers(self, newsletter: Newsletter) -> None:
        """The subscribers' answers to the welcome issue's consultation, and its figures."""
        consultation = Consultation.objects.get(newsletter=newsletter, slug="topics")
        topics, usefulness = consultation.questions.all()
        picks = {
            "ada@example.org": (0, 4),
            "grace@example.org": (1, 3),
            "marie@example.org": (0, 4),
        }
        for email, (topic, score) in picks.items():
            subscriber = Subscriber.objects.filter(email=email).first()
            if subscriber is None:
                continue
            for question, index in ((topics, topic), (usefulness, score)):
                consultations.answer_record(
                    consultation=consultation,
                    subscriber_id=subscriber.pk,
                    question=question,
                    choices=[question.choices.all()[index].pk],
                )
        transparency.refresh(newsletter)

    def _campaigns(self, newsletter: Newsletter, admin) -> None:
        """The stock layouts, a draft and a sent public campaign; each made only once."""
        announcement, release_notes, _ = campaign_services.install_default_layouts(
            newsletter=newsletter
        )
        if not Campaign.objects.filter(newsletter=newsletter, slug=DRAFT["slug"]).exists():
            draft = campaign_services.campaign_create(
                newsletter=newsletter, created_by=admin, layout=release_notes, **DRAFT
            )
            # Marie reads French: she gets the French edition (docs/editions.md).
            campaign_services.edition_create(campaign=draft, **DRAFT_FR)
        if not Campaign.objects.filter(newsletter=newsletter, slug=SENT["slug"]).exists():
            sent = campaign_services.campaign_create(
                newsletter=newsletter, created_by=admin, layout=announcement, **SENT
            )
            campaign_services.edition_create(campaign=sent, **SENT_FR)
            # Demo data: marked sent so the archive and feed have an entry; no mail left.
            lifecycle.campaign_archive_unsent(campaign=sent)

    def _experiment(self, newsletter: Newsletter, admin) -> None:
        """A sent campaign whose subject line was tested first: the sample got one variant
        each, variant B's reader opened it, the leader was chosen and went to the rest,
        through the engine and the tracking buffer as in production. Its mail goes to
        the built-in outbox; elsewhere (a real backend) nothing is sent for a demo, and
        a demo whose readers left since it was first seeded skips it too."""
        if Campaign.objects.filter(newsletter=newsletter, slug=TESTED["slug"]).exists():
            return
        if not sending_backends.route_of(newsletter.pk).outbox:
            self.stdout.write("Not seeding the demo experiment: mail would leave the outbox.")
            return
        try:
            with transaction.atomic():
                self._tested_campaign(newsletter, admin)
        except (ValidationError, lifecycle.CampaignStateError) as error:
            why = " ".join(getattr(error, "messages", [str(error)]))
            self.stdout.write(f"Not seeding the demo experiment: {why}")

    def _tested_campaign(self, newsletter: Newsletter, admin) -> None:
        campaign = campaign_services.campaign_create(
            newsletter=newsletter,
            created_by=admin,
            layout=newsletter.layouts.filter(name="Announcement").first()
            or newsletter.layouts.first(),
            lists=list(MailingList.objects.filter(newsletter=newsletter, slug="announcements")),
            **TESTED,
        )
        experiment = experiments.experiment_save(
            campaign=campaign,
            metric=Metric.OPENS,
            sample_kind=SampleKind.COUNT,
            sample_size=2,  # one reader per variant; the third gets the winner
            wait_hours=4,
            decision=Decision.EDITOR,
            variants=[experiments.VariantInput(subject=subject) for subject in TESTED_SUBJECTS],
        )
        lifecycle.campaign_start(campaign=campaign)
        self._send(campaign)
        opened = Delivery.objects.filter(
            campaign=campaign, variant="B", status=DeliveryStatus.SENT
        ).values_list("pk", flat=True)
        for delivery_id in opened:
            tracking.record(
                claim=tokens.Claim(tokens.OPEN, campaign.pk, 0, delivery_id, "B"),
                agent=classify(DESKTOP_READER),
                ip="",
            )
        tracking.flush()
        experiments.experiment_decide(experiment=experiment, actor=admin.username)
        self._send(campaign)

    def _send(self, campaign: Campaign) -> None:
        """The workers' task, run here and now: three messages leave in its first loop (were
        any left, it would queue itself for make run's worker, as it does there)."""
        delivery_tasks.send_batches(campaign.pk)

    def _feed(self, newsletter: Newsletter, admin) -> None:
        """Follow the demo's own release feed, a file beside the code: only where file
        feeds are allowed from its folder (make run's embedded servers), never a
        deployment's default."""
        if Feed.objects.filter(newsletter=newsletter, name=DEMO_FEED["name"]).exists():
            return
        try:
            feeds.feed_create(
                newsletter=newsletter,
                created_by=admin,
                lists=list(MailingList.objects.filter(newsletter=newsletter, slug="releases")),
                layout=newsletter.layouts.filter(name="Release notes").first()
                or newsletter.layouts.first(),
                url=(settings.BASE_DIR / "feeds" / "demo" / "releases.atom").as_uri(),
                **DEMO_FEED,
            )
        except ValidationError as error:
            self.stdout.write(f"Not following the demo release feed: {' '.join(error.messages)}")

    def _welcome_series(self, newsletter: Newsletter, admin) -> None:
        """Two welcome emails, two days apart, for whoever confirms from now on (the demo's
        own subscribers were confirmed before it existed, so they are not in it)."""
        if Automation.objects.filter(newsletter=newsletter, name=WELCOME["name"]).exists():
            return
        automation = automations.automation_create(
            newsletter=newsletter,
            created_by=admin,
            name=WELCOME["name"],
            lists=list(MailingList.objects.filter(newsletter=newsletter)),
            trigger=Trigger.LIST_CONFIRMED,
            steps=[
                automations.StepSpec(kind="send", **WELCOME["first"]),
                automations.StepSpec(kind="wait", delay=timedelta(days=2)),
                automations.StepSpec(kind="send", **WELCOME["second"]),
            ],
        )
        automations.automation_activate(automation=automation)


DEMO_FEED = {
    "name": "Demo releases",
    "schedule": "weekly",
    "intro": 'Hello {{ subscriber.name|default:"there" }}, here is what Demo released lately.',
}


WELCOME = {
    "name": "Welcome series",
    "first": {
        "subject": "Welcome to Demo Project News",
        "body": (
            'Hello {{ subscriber.name|default:"there" }},\n\n'
            "Thank you for joining. You will hear from us about {{ list.name }}, and nothing "
            "else unless you ask for it.\n\n"
            "In two days we will tell you how to take part in the project."
        ),
    },
    "second": {
        "subject": "Three ways to take part in Demo",
        "body": (
            'Hello {{ subscriber.name|default:"there" }},\n\n'
            "- **Try the nightly build** and tell us what breaks.\n"
            "- **Answer our consultations**: one tap from the mail.\n"
            "- **Propose a talk** for the next community call.\n\n"
            "Thank you for being here."
        ),
    },
}


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

---

{{ goal.sprint }}

Know someone who would like this newsletter? [Share your own link]({{ referral_url }}).
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

{{ consultation.topics }}

Thank you for following the project!
""",
}
TESTED = {
    "name": "Community call, March",
    "slug": "community-call-march",
    "subject": "Join the Demo community call on Thursday",
    "preheader": "One hour, open to everyone, recorded for those who cannot come.",
    "body": """Hello {{ subscriber.name|default:"there" }},

Our monthly community call is on **Thursday at 17:00 UTC**. The maintainers show what
landed in Demo 2.0, then answer your questions.

[Add it to your calendar](https://demo.example.org/community/call.ics) or
[read the notes of the last one](https://demo.example.org/community/notes).
""",
}
# The experiment's two subject lines (A is the campaign's own).
TESTED_SUBJECTS = [TESTED["subject"], "Thursday: meet the Demo maintainers, live"]
# A reader's mail app, as the open pixel would see it (a person, not a proxy).
DESKTOP_READER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
DEMO_CONTRIBUTIONS = [
    ("A plugin for maps", "It draws Demo's data on a map, offline.", "Ada L.", True),
    (
        "Demo on a Raspberry Pi",
        "How we run Demo 2.0 on a Pi 5 in our makerspace.",
        "Hackspace Lyon",
        False,
    ),
    ("Faster CI with Demo", "Our test suite went from 9 to 4 minutes.", "Grace H.", False),
]
SENT_FR = {
    "language": "fr",
    "status": "ready",
    "subject": "Bienvenue dans les nouvelles du projet Demo",
    "preheader": "À quoi sert cette lettre, et à quel rythme elle arrive.",
    "body": """Bonjour {{ subscriber.name|default:"à vous" }},

Voici la lettre du projet Demo. Nous écrivons quand il y a une version, un événement ou
un appel à l'aide : environ une fois par mois, jamais plus de deux.

En attendant, vous pouvez [lire la documentation](https://demo.example.org/docs) ou
[rejoindre le forum](https://forum.demo.example.org).
""",
}
DRAFT_FR = {
    "language": "fr",
    "status": "ready",
    "subject": "Demo 2.0 : des extensions et un démarrage plus rapide",
    "preheader": "Ce qui change, et comment mettre à jour en une commande.",
    "body": """Bonjour {{ subscriber.name|default:"à vous" }},

Demo **2.0** est prête : une API d'extensions, et un démarrage trois fois plus rapide.

```console
$ pip install --upgrade demo==2.0.0
```

{% if list releases %}
Vous êtes sur la liste des versions : le détail des changements suit dans le journal.
{% endif %}
""",
}
