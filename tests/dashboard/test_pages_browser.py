"""Every page a person meets, in Chromium at 1280 and 375 px wide, checked for what they
would see: nothing makes the page scroll sideways, every form control has a usable
width and shows its value, no label is broken in the middle of a word, a chart's time
axis stays within its campaign's period, and axe-core (from npm, run in the same
Chromium) finds no serious or critical accessibility problem. The flows that a page
alone does not show are walked too: the confirmation before a send, the Menu button on
a phone, a slug following its name, a preview that waits for typing.

The dashboard's pages come from its URL resolver, as in the role matrix: a page added
later is walked without editing this file, and fails here until ``Newsroom.url`` can
name the objects in its address.

With ``CRIER_SCREENSHOTS=1`` every page is saved as
docs/screenshots/pages/<page>-<width>.png. Look at them before calling a page done.
"""

import json
import os
import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from api.services import issue_token
from audiences.services import segment_create
from automations import services as automations
from campaigns import services as campaign_services
from campaigns.images import image_upload
from campaigns.models import Campaign, Status
from delivery import lifecycle, sending
from delivery.models import BounceType, Delivery, DeliveryStatus, OutboxMessage
from feeds.models import Feed, FeedItem
from newsletter.invitations import invitation_create, token_digest
from newsletter.models import Role
from participation.services import calls, consultations, goals
from subscribers import fields, import_files
from subscribers import services as subscribers
from subscribers.models import (
    BulkJob,
    BulkJobAction,
    BulkJobStatus,
    ConsentSource,
    ImportBatch,
    ImportProblem,
    ImportStatus,
    OptIn,
)
from subscribers.tokens import Claim, confirm_token, preferences_token, unsubscribe_token
from tests.factories import MailingListFactory, MembershipFactory, NewsletterFactory, UserFactory
from tracking.models import CampaignCount, HourlyCount, Link
from webhooks import services as webhooks

from .test_browser import log_in
from .test_role_matrix import PARAMETER, ROUTES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots" / "pages"
WIDTHS = (1280, 375)
SERIOUS = {"serious", "critical"}
# What a dashboard URL answers that is not a page of its own.
NOT_PAGES = {
    "campaign_preview_html": "the mail's HTML, in a sandboxed frame",
    "layout_preview_html": "the mail's HTML, in a sandboxed frame",
    "campaign_live_preview_html": "the mail's HTML, in a sandboxed frame",
    "outbox_message_html": "the mail's HTML, in a sandboxed frame",
    "feed_preview_html": "the mail's HTML, in a sandboxed frame",
    "campaign_live_preview": "a fragment of the compose page",
    "campaign_recipients": "a fragment of the send page",
    "campaign_report_csv": "a download",
    "list_export": "a download",
    "consultation_csv": "a download",
    "login": "walked by the public pages' test, logged out",
    "login_verify": "only between a password and a second factor",
}

# What a person sees, measured in the page: a function returning a sentence per problem
# (its leading comment taken off, for Playwright to see a function).
SEEN = re.sub(r"^(//.*\n)+", "", (Path(__file__).resolve().parent / "seen.js").read_text())


def tiny_png(width: int = 160, height: int = 80) -> bytes:
    """A real PNG of one colour, for the images page (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\x2e\x7d\x32" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Newsroom:
    """A newsletter in use: lists and people, a draft, a scheduled and a sent campaign
    with its report, an import with a bad row, a token, a webhook, an image, a layout,
    a mail in the outbox. The owner is staff, so the outbox pages are walked too."""

    def __init__(self, tmp_path: Path) -> None:
        self.owner = UserFactory(username="olga", is_staff=True)
        # An instance admin too: the page that creates a newsletter is walked.
        self.owner.user_permissions.add(Permission.objects.get(codename="add_newsletter"))
        self.newsletter = newsletter = NewsletterFactory(
            slug="kernel",
            name="Kernel News",
            description="Releases, security advisories and events of the Kernel project.",
            timezone="Europe/Paris",
            reply_to="maintainers@kernel.example.org",
        )
        MembershipFactory(newsletter=newsletter, user=self.owner, role=Role.OWNER)
        self.viewer = MembershipFactory(
            newsletter=newsletter, role=Role.VIEWER, user__username="vera"
        )
        self.announcements = MailingListFactory(
            newsletter=newsletter, slug="announcements", name="Announcements"
        )
        self.releases = MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
        MailingListFactory(newsletter=newsletter, slug="team", name="Team", public=False)
        self.people = [
            self._confirmed(email, name, lists)
            for email, name, lists in (
                ("ada@example.org", "Ada Lovelace", [self.announcements, self.releases]),
                ("grace@example.org", "Grace Hopper", [self.releases]),
                ("linus@example.org", "", [self.releases]),
                ("margaret@example.org", "Margaret Hamilton", [self.announcements]),
            )
        ]
        self.ada = self.people[0]
        subscribers.subscribe(
            newsletter=newsletter,
            email="pending@example.org",
            lists=[self.announcements],
            source=ConsentSource.FORM,
            wording=newsletter.consent_text,
        )
        self.layouts = campaign_services.install_default_layouts(newsletter=newsletter)
        self.draft = campaign_services.campaign_create(
            newsletter=newsletter,
            created_by=self.owner,
            name="Kernel 7.1",
            subject="Kernel 7.1: faster boots",
            preheader="What changed and how to upgrade",
            layout=self.layouts[1],
            body="Hello {{ subscriber.name }},\n\n## Added\n\n- Faster boots.\n",
            public=True,
        )
        self.draft.lists.set([self.releases])
        campaign_services.edition_create(
            campaign=self.draft,
            language="fr",
            subject="Kernel 7.1 : des démarrages plus rapides",
            body="Bonjour {{ subscriber.name }},\n\n## Nouveau\n\n- Démarrage plus rapide.\n",
            status="ready",
        )
        self.sent = self._sent_campaign()
        self.scheduled = campaign_services.campaign_create(
            newsletter=newsletter,
            created_by=self.owner,
            name="Meetup in Lyon",
            subject="Meet the maintainers in Lyon",
            layout=self.layouts[0],
            body="Come and meet us.",
        )
        self.scheduled.lists.set([self.announcements])
        lifecycle.campaign_schedule(
            campaign=self.scheduled, send_at=timezone.now() + timedelta(days=3)
        )
        batch = ImportBatch.objects.create(
            newsletter=newsletter,
            mailing_list=self.announcements,
            source_name="summit-2026.csv",
            attestation="Signed up at the 2026 summit",
            actor="olga (dashboard)",
            status=ImportStatus.DONE,
            lines_done=4,
            lines_total=4,
            rows=3,
            created=2,
            subscribed=2,
            bad_rows=1,
            finished_at=timezone.now(),
        )
        ImportProblem.objects.create(batch=batch, line=3, reason="grace@example: not an address")
        upload = import_files.store_upload(
            newsletter=newsletter,
            upload=SimpleUploadedFile(
                "members.csv", b"Mail,Display name\nada@example.org,Ada\nbob@example.org,Bob\n"
            ),
        )
        token, _ = issue_token(user=self.owner, newsletter=newsletter, name="release script")
        endpoint = webhooks.endpoint_create(
            newsletter=newsletter,
            url="https://hooks.kernel.example.org/crier",
            events=["subscriber.confirmed", "campaign.sent"],
            description="The project's chat bot",
        )
        image_upload(
            newsletter=newsletter,
            upload=SimpleUploadedFile("boot-times.png", tiny_png(), content_type="image/png"),
            alt="Boot times before and after",
            created_by=self.owner,
        )
        message = EmailMultiAlternatives(
            "Test message from Crier", "It works.", "news@kernel.example.org", ["olga@example.org"]
        )
        message.attach_alternative("<p>It works.</p>", "text/html")
        message.send()
        # Words a route needs by URL name: a link only its mail would carry.
        self.route_words = {
            "password_reset_confirm": {
                "uidb64": urlsafe_base64_encode(force_bytes(self.owner.pk)),
                "token": default_token_generator.make_token(self.owner),
            }
        }
        # The object a number after each path segment stands for; overrides by URL name.
        self.objects = {
            "campaigns": self.sent.pk,
            "layouts": self.layouts[0].pk,
            "members": self.viewer.pk,
            "tokens": token.pk,
            "subscribers": self.ada.pk,
            "imports": batch.pk,
            "webhooks": endpoint.pk,
            "outbox": OutboxMessage.objects.get().pk,
            "segments": self._segment().pk,
            **self._participation(),
            "feeds": self._feed(),
            **self._automation(),
            "bulk": self._bulk_job(),
        }
        self.overrides = {
            "campaign_edit": self.draft.pk,
            "campaign_send": self.draft.pk,
            "edition_create": self.draft.pk,
            "edition_edit": self.draft.pk,
        }
        self.route_words["edition_edit"] = {"language": "fr"}
        self.route_words["field_edit"] = {"key": "sdk"}
        self.words = {"list_slug": self.announcements.slug, "token": upload, "kind": "send"}

    def _bulk_job(self) -> int:
        """A finished bulk action on the subscribers page (the worker's page of one)."""
        return BulkJob.objects.create(
            newsletter=self.newsletter,
            action=BulkJobAction.ADD,
            mailing_list=self.releases,
            attestation="They asked for the release notes at the meetup.",
            filters={"status": "active"},
            requested_by=self.owner,
            actor=self.owner.username,
            status=BulkJobStatus.DONE,
            total=2,
            done=2,
            changed=1,
            already=1,
        ).pk

    def _segment(self):
        """A choice field and a segment on it with two conditions (issue 15)."""
        fields.field_create(
            newsletter=self.newsletter,
            key="sdk",
            label="SDK",
            type="choice",
            choices=["python", "rust"],
            description="The SDK they use most.",
        )
        return segment_create(
            newsletter=self.newsletter,
            name="Python users on Releases",
            rules={
                "all": [
                    {"field": "list", "op": "confirmed", "value": self.releases.slug},
                    {"field": "sdk", "op": "eq", "value": "python"},
                ]
            },
        )

    def _feed(self) -> int:
        """A followed release feed that made one issue and failed its last look. Made
        directly: the service would fetch it, and no page walked here fetches."""
        feed = Feed.objects.create(
            newsletter=self.newsletter,
            name="Kernel releases",
            url="https://kernel.example.org/releases/feed.atom?channel=stable&format=atom",
            title="Kernel releases",
            layout=self.layouts[0],
            schedule="weekly",
            next_run_at=timezone.now() + timedelta(days=6),
            last_run_at=timezone.now() - timedelta(days=1),
            last_error="The feed's server answered HTTP 503.",
        )
        feed.lists.set([self.announcements])
        FeedItem.objects.create(feed=feed, key="k-7.0", title="Kernel 7.0", campaign=self.sent)
        return feed.pk

    def _participation(self) -> dict:
        """A consultation, an open call with a contribution, a support goal, an invitation."""
        consultation = consultations.consultation_create(
            newsletter=self.newsletter,
            created_by=self.owner,
            title="What should the next release focus on?",
            questions=[consultations.QuestionSpec("single", "Pick one", ["Speed", "Docs"])],
        )
        call = calls.call_create(
            newsletter=self.newsletter,
            created_by=self.owner,
            title="Talks for the Lyon meetup",
            description="Propose a talk of 20 minutes.",
        )
        submission = calls.submission_create(
            call=call,
            title="Booting in 100 ms",
            text="How Kernel 7.0 starts faster.",
            credit_name="Ada Lovelace",
            consent=True,
        )
        goal = goals.goal_create(
            newsletter=self.newsletter,
            title="Volunteers for the docs sprint",
            kind="volunteers",
            target=10,
            cta_label="Join",
            cta_url="https://kernel.example.org/sprint",
        )
        invitation = invitation_create(
            newsletter=self.newsletter,
            email="newcomer@example.org",
            role=Role.EDITOR,
            invited_by=self.owner,
        )
        raw = "invitation-token-of-the-walk"
        invitation.token_digest = token_digest(raw)
        invitation.save(update_fields=["token_digest"])
        self.route_words["invitation"] = {"token": raw}
        return {
            "consultations": consultation.pk,
            "questions": consultation.questions.get().pk,
            "calls": call.pk,
            "submissions": submission.pk,
            "goals": goal.pk,
            "invitations": invitation.pk,
        }

    def _automation(self) -> dict:
        """A running welcome series: an email, a wait, a weekday wait, a second email."""
        automation = automations.automation_create(
            newsletter=self.newsletter,
            created_by=self.owner,
            name="Welcome to Kernel",
            lists=[self.announcements, self.releases],
            steps=[
                automations.StepSpec(
                    kind="send", subject="Welcome to Kernel News", body="Hello, and welcome."
                ),
                automations.StepSpec(kind="wait", delay=timedelta(days=2, hours=12)),
                automations.StepSpec(kind="wait_until", weekday=0, hour=9, zone_of="subscriber"),
                automations.StepSpec(
                    kind="send", subject="How to contribute to Kernel", body="Three ways."
                ),
            ],
        )
        automations.automation_activate(automation=automation)
        return {"automations": automation.pk, "steps": automation.steps.get(position=1).pk}

    def _confirmed(self, email: str, name: str, lists):
        return subscribers.subscribe(
            newsletter=self.newsletter,
            email=email,
            name=name,
            lists=lists,
            source=ConsentSource.DASHBOARD,
            wording=self.newsletter.consent_text,
            attestation="Signed up at the booth",
            actor="olga (dashboard)",
        ).subscriber

    def _sent_campaign(self) -> Campaign:
        """Sent minutes ago, with hits this hour: the case whose axis spanned years."""
        campaign = campaign_services.campaign_create(
            newsletter=self.newsletter,
            created_by=self.owner,
            name="Kernel 7.0",
            subject="Kernel 7.0 is out",
            preheader="Plugins, and a faster start",
            layout=self.layouts[0],
            body=(
                'Hello {{ subscriber.name|default:"there" }},\n\n'
                "Kernel **7.0** is out: [read the notes](https://kernel.example.org/7.0).\n"
            ),
            public=True,
        )
        campaign.lists.set([self.releases])
        self.started = timezone.now() - timedelta(minutes=6)
        rows = Delivery.objects.bulk_create(
            Delivery(
                campaign=campaign,
                subscriber=person,
                status=DeliveryStatus.SENT,
                created_at=self.started,
                sent_at=self.started + timedelta(seconds=2),
            )
            for person in self.people[:3]
        )
        Delivery.objects.filter(pk=rows[-1].pk).update(
            bounced_at=self.started + timedelta(minutes=1),
            bounce_type=BounceType.HARD,
            last_error="550 5.1.1 <recipient>: no such user",
        )
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Status.SENT,
            recipient_count=len(rows),
            sent_at=self.started + timedelta(seconds=3),
        )
        hour = timezone.now().replace(minute=0, second=0, microsecond=0)
        HourlyCount.objects.create(
            campaign=campaign, hour=hour, opens_human=2, opens_machine=1, clicks_human=1
        )
        CampaignCount.objects.create(
            campaign=campaign, opens_human=2, opens_machine=1, clicks_human=1
        )
        Link.objects.create(
            campaign=campaign, position=0, url="https://kernel.example.org/7.0", clicks_human=1
        )
        campaign.refresh_from_db()
        return campaign

    def url(self, name: str, route: str) -> str:
        kwargs = {}
        for match in PARAMETER.finditer(route):
            converter, parameter = match.groups()
            segment = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            if parameter in self.route_words.get(name, {}):
                kwargs[parameter] = self.route_words[name][parameter]
            elif parameter == "slug":
                kwargs[parameter] = self.newsletter.slug
            elif converter == "int" and name in self.overrides:
                kwargs[parameter] = self.overrides[name]
            elif converter == "int" and segment in self.objects:
                kwargs[parameter] = self.objects[segment]
            elif parameter in self.words:
                kwargs[parameter] = self.words[parameter]
            else:
                pytest.fail(
                    f"{name} ({route}): give Newsroom an object for <{match.group(0)[1:-1]}> "
                    "so that this page is walked"
                )
        return reverse(f"dashboard:{name}", kwargs=kwargs)


class Walk:
    """Opens pages at each width and writes down what a person would not want to see."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.axe = AXE.read_text()
        self.saved = os.environ.get("CRIER_SCREENSHOTS") == "1"
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def visit(self, name: str, url: str | None = None) -> None:
        """Check the page at every width (``url`` None: the page already open)."""
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            if url is not None:
                response = self.page.goto(url)
                if response.status >= 400:
                    self.problems.append(f"{name}: {url} answered {response.status}")
                    return
            self.check(name, width)

    def check(self, name: str, width: int) -> None:
        page = self.page
        page.wait_for_load_state("load")
        charts = page.locator("[data-chart]")
        for index in range(charts.count()):
            expect(charts.nth(index)).to_have_attribute("data-chart-ready", "true")
        for problem in page.evaluate(SEEN):
            self.problems.append(f"{name} at {width}px: {problem}")
        if "axe" not in page.evaluate("Object.keys(window)"):
            page.evaluate(self.axe + "\n;0")  # over DevTools: the page's CSP does not apply
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
        )
        for violation in violations:
            if violation["impact"] in SERIOUS:
                self.problems.append(
                    f"{name} at {width}px: axe {violation['impact']} {violation['id']}: "
                    f"{violation['help']} ({'; '.join(violation['targets'])})"
                )
        if self.saved:
            self.screenshot(name, width)

    def screenshot(self, name: str, width: int) -> None:
        """The whole page, through a window as tall as the page: Chromium leaves a
        sandboxed frame blank in a full-page capture when it starts below the fold."""
        page = self.page
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"))
        page.set_viewport_size({"width": width, "height": 900})

    def verdict(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def newsroom(live_server, settings, tmp_path, redis_client):
    settings.SITE_URL = live_server.url
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.MEDIA_ROOT = tmp_path / "media"
    return Newsroom(tmp_path)


def test_every_dashboard_page_reads_well_at_both_widths(live_server, page, newsroom):
    walk = Walk(page)
    log_in(page, live_server, "olga")
    walked = []
    for name, route in ROUTES:
        if name in NOT_PAGES:
            continue
        url = f"{live_server.url}{newsroom.url(name, route)}"
        if page.request.get(url, max_redirects=0).status == 405:
            continue  # only ever posted to: its page is the one with the form
        walk.visit(name, url)
        walked.append(name)
    draft = reverse("dashboard:campaign_preview", args=["kernel", newsroom.draft.pk])
    walk.visit("campaign_preview-draft", f"{live_server.url}{draft}")
    assert {"newsletter", "campaign_report", "campaign_send", "import_map", "outbox"} <= set(walked)
    walk.verdict()


def test_the_public_pages_and_the_preference_center_read_well_at_both_widths(
    live_server, page, newsroom
):
    walk = Walk(page)
    base = live_server.url
    claim = Claim(newsroom.ada.pk, newsroom.newsletter.pk)
    walk.visit("login", f"{base}/dashboard/login/")
    walk.visit("public-page", f"{base}/n/kernel/")
    assert page.get_by_text("Embed this form on your website").count() == 0
    walk.visit("archive", f"{base}/n/kernel/archive/")
    walk.visit("archive-search", f"{base}/n/kernel/archive/?q=kernel")
    walk.visit("web-version", f"{base}{newsroom.sent.get_public_url()}")
    assert page.get_by_text("Unsubscribe").count() == 0
    walk.visit("confirm", f"{base}/s/confirm/{confirm_token(claim)}/")
    walk.visit("preferences", f"{base}/s/prefs/{preferences_token(claim)}/")
    assert page.locator("select[name=language]").count() == 1
    unsubscribe = f"{base}/s/unsubscribe/{unsubscribe_token(claim)}/?list={newsroom.releases.pk}"
    walk.visit("unsubscribe", unsubscribe)
    expect(page.get_by_label("Only “Releases”, the list this mail came from")).to_be_checked()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    walk.check("unsubscribed", 375)
    page.goto(f"{base}/n/kernel/")
    page.get_by_label("Email address").fill("new@example.org")
    page.get_by_label("Releases").check()
    page.get_by_role("checkbox", name=re.compile("I agree")).check()
    page.get_by_role("button", name="Subscribe").click()
    walk.check("check-your-inbox", 375)
    walk.verdict()


def test_a_send_is_confirmed_with_what_goes_out_before_anything_does(live_server, page, newsroom):
    walk = Walk(page)
    log_in(page, live_server, "olga")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/dashboard/n/kernel/campaigns/{newsroom.draft.pk}/send/")
    send_now = page.get_by_role("button", name="Send now…")
    page.get_by_label("Releases").uncheck()
    expect(page.locator("#recipients")).to_contain_text("0 people receive it")
    expect(send_now).to_be_disabled()
    page.get_by_label("Releases").check()
    expect(page.locator("#recipients")).to_contain_text("3 people receive it")
    expect(send_now).to_be_enabled()
    send_now.click()

    expect(page.get_by_role("heading", name="Check, then send")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts.locator("[data-fact=subject]")).to_have_text("Kernel 7.1: faster boots")
    expect(facts.locator("[data-fact=sender]")).to_contain_text("news@kernel.example.org")
    expect(facts.locator("[data-fact=lists]")).to_have_text("Releases")
    expect(facts.locator("[data-fact=recipients]")).to_contain_text("3 people")
    expect(facts.locator("[data-fact=when]")).to_have_text("Now")
    walk.visit("campaign_send-confirm")
    newsroom.draft.refresh_from_db()
    assert newsroom.draft.status == Status.DRAFT and not newsroom.draft.deliveries.exists()

    page.get_by_role("button", name="Send to 3 people now").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "sending")
    while sending.send_batches(campaign_id=newsroom.draft.pk):
        pass
    page.reload()
    expect(page.locator("[data-status]")).to_contain_text("to 3 people")
    expect(page.locator("[data-status]")).to_contain_text("Sent at")
    walk.visit("campaign_sending-sent")
    page.get_by_role("link", name="The campaign").click()
    expect(page.get_by_role("heading", name=re.compile("^Sent on .* to 3 people$"))).to_be_visible()
    assert page.get_by_text("Ready to send?").count() == 0
    walk.visit("campaign_preview-sent")
    walk.verdict()


def test_the_report_axis_spans_the_minutes_since_the_send(live_server, page, newsroom):
    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/dashboard/n/kernel/campaigns/{newsroom.sent.pk}/report/")
    chart = page.locator("[data-chart=timeline-data]")
    expect(chart).to_have_attribute("data-chart-ready", "true")
    start, end = float(chart.get_attribute("data-x-min")), float(chart.get_attribute("data-x-max"))
    started = newsroom.started.timestamp()
    assert started - 3600 <= start <= started, "the axis starts within the hour sending began"
    assert timezone.now().timestamp() <= end <= started + 2 * 3600, "and ends an hour later"
    payload = json.loads(page.locator("#timeline-data").text_content())
    assert payload["timezone"] == "Europe/Paris"


def test_the_menu_folds_on_a_phone_and_opens_with_its_button(live_server, page, newsroom):
    log_in(page, live_server, "olga")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/dashboard/n/kernel/")
    menu = page.get_by_role("button", name="Menu")
    outbox = page.get_by_role("link", name="Outbox")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(outbox).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(outbox).to_be_visible()
    expect(page.get_by_role("button", name="Log out olga")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(menu).to_be_hidden()
    expect(outbox).to_be_visible()


def test_forms_fill_slugs_and_speak_only_after_typing(live_server, page, newsroom):
    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/dashboard/n/kernel/lists/new/")
    page.get_by_label("Name").fill("Security Advisories")
    expect(page.get_by_label("Slug")).to_have_value("security-advisories")
    page.get_by_label("Opt-in").select_option(OptIn.SINGLE)
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_text("List “Security Advisories” created.")).to_be_visible()
    expect(page.locator(".messages li")).to_have_css("list-style-type", "none")
    assert newsroom.newsletter.lists.filter(slug="security-advisories").exists()

    page.goto(f"{live_server.url}/dashboard/n/kernel/campaigns/new/")
    preview = page.locator("#live-preview")
    expect(preview).to_contain_text("The preview appears here as you type.")
    page.wait_for_timeout(1000)  # long enough for a preview asked for on load to arrive
    expect(preview.locator(".problems")).to_have_count(0)
    page.get_by_label("Name", exact=True).fill("Kernel 7.2")
    expect(page.get_by_label("Slug")).to_have_value("kernel-72")
    page.get_by_label("Subject", exact=True).fill("Kernel 7.2")
    page.get_by_label("Body", exact=True).fill("Hello {{ subscriber.name }}, it is out.")
    expect(preview.frame_locator("iframe.mail-preview").get_by_text("it is out.")).to_be_visible()
    name_box = page.get_by_label("Name", exact=True).bounding_box()
    slug_box = page.get_by_label("Slug").bounding_box()
    assert abs(name_box["y"] - slug_box["y"]) < 2, "the fields side by side start level"


def test_who_left_shows_in_words_and_people_are_acted_on_in_bulk(live_server, page, newsroom):
    """Ada leaves through the link in Kernel 7.0: the filter finds her, her row says how,
    the report counts her; then two people are taken off a list in one go, at each width."""
    walk = Walk(page)
    base = live_server.url
    ada = Claim(newsroom.ada.pk, newsroom.newsletter.pk)
    page.goto(f"{base}/s/unsubscribe/{unsubscribe_token(ada)}/?c={newsroom.sent.pk}")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()

    log_in(page, live_server, "olga")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/dashboard/n/kernel/subscribers/")
        expect(page.locator(".result-count")).to_have_text("5 people match")
        page.get_by_label("Status").select_option(label="Unsubscribed from everything")
        expect(page.locator(".result-count")).to_have_text("1 person matches")
        row = page.get_by_role("row", name=re.compile("ada@example.org"))
        expect(row).to_contain_text(
            re.compile(r"Unsubscribed from all lists on \d+ \w+ via the link in “Kernel 7\.0”")
        )
        search = page.get_by_label("Search by email or name")
        assert search.evaluate("e => getComputedStyle(e).borderRadius") != "80px", "not a pill"
        walk.check("subscriber_list-unsubscribed", width)

    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{base}/dashboard/n/kernel/subscribers/?list=releases")
    for email in ("grace@example.org", "linus@example.org"):
        page.get_by_role("checkbox", name=f"Select {email}").check()
    page.get_by_label("Action", exact=True).select_option(label="Remove from list")
    page.get_by_label("List", exact=True).last.select_option(label="Releases")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".messages")).to_contain_text("2 people removed from Releases.")
    expect(page.get_by_label("List", exact=True).first).to_have_value("releases")
    walk.check("subscriber_list-after-bulk", 375)

    page.goto(f"{base}/dashboard/n/kernel/campaigns/{newsroom.sent.pk}/report/")
    expect(page.locator("[data-count=unsubscribed]")).to_have_text("1")
    walk.verdict()
