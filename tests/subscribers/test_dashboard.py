"""The dashboard's list, subscriber and import pages, per role."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from newsletter.models import Role
from subscribers import ledger, services, suppressions, tasks
from subscribers.models import (
    ConsentAction,
    ConsentSource,
    ImportBatch,
    MailingList,
    OptIn,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from subscribers.tokens import Claim
from tests.factories import (
    MailingListFactory,
    MembershipFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """A newsletter with a list, an editor and a viewer."""
    editor = MembershipFactory(role=Role.EDITOR, user__username="eddie")
    newsletter = editor.newsletter
    viewer = MembershipFactory(role=Role.VIEWER, newsletter=newsletter, user__username="vera")
    news = MailingListFactory(newsletter=newsletter, name="News", slug="news")
    return newsletter, news, editor.user, viewer.user


def url(name: str, newsletter, *args) -> str:
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def attested(newsletter, mailing_list, email: str, name: str = "") -> Subscriber:
    return services.subscribe(
        newsletter=newsletter,
        email=email,
        name=name,
        lists=[mailing_list],
        source=ConsentSource.DASHBOARD,
        wording=newsletter.consent_text,
        attestation="Signed up at the booth",
        actor="eddie (dashboard)",
    ).subscriber


# Who may do what


@pytest.mark.parametrize(
    "name",
    ["list_index", "subscriber_list"],
)
def test_viewers_read_the_pages(client, team, name):
    newsletter, _news, _editor, viewer = team
    client.force_login(viewer)
    assert client.get(url(name, newsletter)).status_code == 200


def test_a_viewer_sees_a_subscriber_but_no_buttons_to_change_them(client, team):
    newsletter, news, _editor, viewer = team
    person = attested(newsletter, news, "ada@example.org")
    client.force_login(viewer)
    page = client.get(url("subscriber_detail", newsletter, person.pk)).content.decode()
    assert "ada@example.org" in page
    assert (
        reverse("dashboard:subscriber_unsubscribe", args=[newsletter.slug, person.pk]) not in page
    )
    assert reverse("dashboard:subscriber_erase", args=[newsletter.slug, person.pk]) not in page


def test_a_subscribers_page_shows_the_readers_own_choices(client, team):
    newsletter, news, _editor, viewer = team
    person = attested(newsletter, news, "ada@example.org")
    client.force_login(viewer)
    page = client.get(url("subscriber_detail", newsletter, person.pk)).content.decode()
    assert "Not tracked at all" not in page and "Until they come back" not in page
    assert 'data-fact="time-zone"' not in page
    Subscriber.objects.filter(pk=person.pk).update(
        tracking_off=True,
        tracking_opt_out=True,
        mail_format="text",
        paused_indefinitely=True,
        time_zone="Asia/Tokyo",
    )
    page = client.get(url("subscriber_detail", newsletter, person.pk)).content.decode()
    assert 'data-fact="time-zone">Asia/Tokyo<' in page
    assert "Not tracked at all (no tracking image, no rewritten links)" in page
    assert "Plain text only" in page
    assert "Until they come back" in page


@pytest.mark.parametrize(
    ("method", "name", "extra"),
    [
        ("get", "list_create", []),
        ("post", "list_create", []),
        ("get", "subscriber_add", []),
        ("post", "subscriber_add", []),
        ("get", "import_upload", ["news"]),
        ("post", "import_upload", ["news"]),
        ("get", "list_export", ["news"]),
        ("get", "list_edit", ["news"]),
    ],
)
def test_viewers_cannot_change_anything(client, team, method, name, extra):
    newsletter, _news, _editor, viewer = team
    client.force_login(viewer)
    response = getattr(client, method)(url(name, newsletter, *extra))
    assert response.status_code == 403


def test_viewers_cannot_unsubscribe_or_erase(client, team):
    newsletter, news, _editor, viewer = team
    person = attested(newsletter, news, "ada@example.org")
    client.force_login(viewer)
    assert client.post(url("subscriber_unsubscribe", newsletter, person.pk)).status_code == 403
    response = client.post(
        url("subscriber_erase", newsletter, person.pk), {"confirm_email": "ada@example.org"}
    )
    assert response.status_code == 403
    assert Subscription.objects.get(subscriber=person).status == SubscriptionStatus.CONFIRMED


def test_outsiders_do_not_learn_the_newsletter_exists(client, team):
    newsletter, _news, _editor, _viewer = team
    client.force_login(UserFactory())
    assert client.get(url("subscriber_list", newsletter)).status_code == 404


def test_a_subscriber_of_another_newsletter_is_not_shown(client, team):
    newsletter, _news, editor, _viewer = team
    elsewhere = SubscriptionFactory(subscriber__email="other@example.org")
    client.force_login(editor)
    assert (
        client.get(url("subscriber_detail", newsletter, elsewhere.subscriber.pk)).status_code == 404
    )


# Lists


def test_an_editor_creates_and_edits_a_list(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    response = client.post(
        url("list_create", newsletter),
        {
            "name": "Security",
            "slug": "security",
            "description": "Advisories",
            "public": "",
            "opt_in": OptIn.SINGLE,
        },
    )
    assert response.status_code == 302
    created = MailingList.objects.get(newsletter=newsletter, slug="security")
    assert (created.public, created.opt_in) == (False, OptIn.SINGLE)

    client.post(
        url("list_edit", newsletter, "security"),
        {"name": "Security advisories", "slug": "security", "public": "on", "opt_in": "double"},
    )
    created.refresh_from_db()
    assert (created.name, created.public, created.opt_in) == ("Security advisories", True, "double")


def test_a_list_saved_without_a_slug_gets_one_made_from_its_name(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    form = client.get(url("list_create", newsletter)).content.decode()
    assert 'data-slug-from="name"' in form
    response = client.post(
        url("list_create", newsletter),
        {"name": "Security Advisories (é)", "slug": "", "opt_in": OptIn.DOUBLE},
    )
    assert response.status_code == 302
    assert newsletter.lists.filter(slug="security-advisories-e").exists()
    taken = client.post(
        url("list_create", newsletter), {"name": "News", "slug": "", "opt_in": "double"}
    )
    assert "already has a list with this slug" in taken.content.decode()
    nothing = client.post(
        url("list_create", newsletter), {"name": "日本語", "slug": "", "opt_in": "double"}
    )
    assert nothing.status_code == 422
    assert "Type a slug" in nothing.content.decode()
    assert newsletter.lists.count() == 2


def test_a_checkbox_sits_in_its_own_label_apart_from_the_next_field(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    form = client.get(url("list_create", newsletter)).content.decode()
    public = form.split('<label for="id_public">', 1)[1].split("</label>", 1)[0]
    assert '<input type="checkbox" name="public"' in public and "Public" in public
    assert "Opt-in" not in public
    opt_in = form.split('<label for="id_opt_in">', 1)[1]
    assert opt_in.index("Opt-in") < opt_in.index("<select")


def test_a_taken_slug_is_refused_next_to_the_field(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    response = client.post(
        url("list_create", newsletter), {"name": "Again", "slug": "news", "opt_in": "double"}
    )
    assert response.status_code == 422
    assert "already has a list with this slug" in response.content.decode()
    assert newsletter.lists.count() == 1


def test_the_lists_page_shows_sizes_by_status(client, team):
    newsletter, news, _editor, viewer = team
    SubscriptionFactory.create_batch(3, mailing_list=news)
    SubscriptionFactory(mailing_list=news, status=SubscriptionStatus.PENDING)
    client.force_login(viewer)
    page = client.get(url("list_index", newsletter)).content.decode()
    assert 'data-count="confirmed">3<' in page
    assert 'data-count="pending">1<' in page
    assert "≈" not in page


def test_big_lists_show_the_planner_estimate(client, team, monkeypatch):
    from subscribers import selectors

    newsletter, news, _editor, viewer = team
    SubscriptionFactory.create_batch(2, mailing_list=news)
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE subscribers_subscription")
    client.force_login(viewer)
    page = client.get(url("list_index", newsletter)).content.decode()
    assert "≈" in page
    assert "estimate" in page


def test_export_is_a_streamed_csv_with_formulas_escaped(client, team):
    newsletter, news, editor, _viewer = team
    SubscriptionFactory(mailing_list=news, subscriber__name="=HYPERLINK(evil)")
    client.force_login(editor)
    response = client.get(url("list_export", newsletter, "news"))
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][1] == "'=HYPERLINK(evil)"


# Subscribers


def test_search_finds_by_part_of_the_address_or_the_name(client, team):
    newsletter, news, _editor, viewer = team
    attested(newsletter, news, "grace.hopper@example.org", "Grace")
    attested(newsletter, news, "ada@example.org", "Ada Lovelace")
    client.force_login(viewer)
    by_address = client.get(url("subscriber_list", newsletter), {"q": "HOPPER"}).content.decode()
    assert "grace.hopper@example.org" in by_address
    assert "ada@example.org" not in by_address
    by_name = client.get(url("subscriber_list", newsletter), {"q": "lovelace"}).content.decode()
    assert "ada@example.org" in by_name
    assert "grace.hopper@example.org" not in by_name


def test_a_too_short_search_is_explained(client, team):
    newsletter, _news, _editor, viewer = team
    client.force_login(viewer)
    fragment = client.get(
        url("subscriber_list", newsletter), {"q": "ab"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Search by email or name: Ensure this value has at least 3 characters" in fragment


def test_filters_by_list_and_status(client, team):
    newsletter, news, _editor, viewer = team
    other = MailingListFactory(newsletter=newsletter, slug="other")
    attested(newsletter, news, "on-news@example.org")
    attested(newsletter, other, "on-other@example.org")
    gone = attested(newsletter, other, "gone@example.org")
    services.leave_newsletter(claim=Claim(gone.pk, newsletter.pk), source="dashboard")
    client.force_login(viewer)
    page = client.get(url("subscriber_list", newsletter), {"list": "news"}).content.decode()
    assert "on-news@example.org" in page
    assert "on-other@example.org" not in page
    page = client.get(
        url("subscriber_list", newsletter), {"status": SubscriberStatus.UNSUBSCRIBED}
    ).content.decode()
    assert "gone@example.org" in page
    assert "on-other@example.org" not in page


def test_pages_follow_each_other_by_id_without_counting(client, team, monkeypatch):
    from subscribers import dashboard

    newsletter, news, _editor, viewer = team
    monkeypatch.setattr(dashboard, "PAGE_SIZE", 2)
    people = [attested(newsletter, news, f"p{n}@example.org") for n in range(5)]
    client.force_login(viewer)
    first = client.get(url("subscriber_list", newsletter))
    assert [s.pk for s in first.context["page"].items] == [people[4].pk, people[3].pk]
    older = first.context["page"].older
    second = client.get(url("subscriber_list", newsletter), {"after": older})
    assert [s.pk for s in second.context["page"].items] == [people[2].pk, people[1].pk]
    third = client.get(url("subscriber_list", newsletter), {"after": second.context["page"].older})
    assert [s.pk for s in third.context["page"].items] == [people[0].pk]
    assert third.context["page"].older is None
    back = client.get(url("subscriber_list", newsletter), {"before": third.context["page"].newer})
    assert [s.pk for s in back.context["page"].items] == [people[2].pk, people[1].pk]


def test_search_can_use_the_trigram_indexes():
    """The search's own SQL is served by the trigram indexes.

    On a test-sized table reading it all (in id order), or a newsletter's rows by its
    own index, is cheaper, so the planner is told to avoid the first and the search's
    condition is explained alone; on a big newsletter it picks the trigram indexes by
    itself (docs/dashboard.md). What this catches: SQL the indexes' expression no
    longer fits.
    """
    from subscribers import selectors
    from tests.factories import NewsletterFactory

    newsletter = NewsletterFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscriber (newsletter_id, email, email_digest, name,"
            " language, attributes, status, tracking_opt_out, created_at, updated_at)"
            " SELECT %s, 'user' || g || '.' || md5(g::text) || '@example.org', '', 'Person ' || g,"
            " '', '{}', 'active', false, now(), now() FROM generate_series(1, 2000) g",
            [newsletter.pk],
        )
        cursor.execute("ANALYZE subscribers_subscriber")
        # For the test's transaction only.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    searched = Subscriber.objects.filter(selectors.search_condition("c4ca4238a0"))
    plan = searched.order_by("-pk")[:51].explain()
    assert "subscribers_subscriber_email_trgm" in plan, plan
    assert "subscribers_subscriber_name_trgm" in plan
    found = selectors.subscribers_of(newsletter, search="c4ca4238a0")
    assert [person.name for person in found] == ["Person 1"]


def test_an_editor_adds_someone_on_an_attestation(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    response = client.post(
        url("subscriber_add", newsletter),
        {
            "email": "Ada@Example.org",
            "name": "Ada",
            "lists": ["news"],
            "attestation": "Paper form at FOSDEM",
        },
    )
    person = Subscriber.objects.get(email="Ada@example.org")
    assert response["Location"] == url("subscriber_detail", newsletter, person.pk)
    assert Subscription.objects.get(subscriber=person).status == SubscriptionStatus.CONFIRMED
    event = person.consent_events.get()
    assert event.source == ConsentSource.DASHBOARD
    assert event.details["attestation"] == "Paper form at FOSDEM"
    assert event.details["actor"] == "eddie (dashboard)"


def test_without_attestation_a_confirmation_is_sent_and_the_adder_recorded(client, team):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    client.post(url("subscriber_add", newsletter), {"email": "bob@example.org", "lists": ["news"]})
    person = Subscriber.objects.get(email="bob@example.org")
    assert Subscription.objects.get(subscriber=person).status == SubscriptionStatus.PENDING
    assert person.consent_events.get().details == {"opt_in": "double", "actor": "eddie (dashboard)"}


@pytest.mark.parametrize("here", [True, False], ids=["in this newsletter", "everywhere"])
def test_a_suppressed_address_is_not_added_and_the_editor_is_told(client, team, here):
    newsletter, _news, editor, _viewer = team
    suppressions.suppress(
        email="gone@example.org", reason="complaint", newsletter=newsletter if here else None
    )
    client.force_login(editor)
    response = client.post(
        url("subscriber_add", newsletter),
        {"email": "gone@example.org", "lists": ["news"], "attestation": "Said yes"},
    )
    assert response.status_code == 422
    assert "only the person can subscribe again" in response.content.decode()
    assert not Subscriber.objects.filter(email="gone@example.org").exists()


def test_the_subscriber_page_shows_subscriptions_ledger_and_deliveries(client, team):
    from delivery.models import Delivery, DeliveryStatus
    from tests.factories import CampaignFactory

    newsletter, news, _editor, viewer = team
    person = attested(newsletter, news, "ada@example.org", "Ada")
    campaign = CampaignFactory(newsletter=newsletter, name="Release 2.0")
    Delivery.objects.create(campaign=campaign, subscriber=person, status=DeliveryStatus.SENT)
    client.force_login(viewer)
    page = client.get(url("subscriber_detail", newsletter, person.pk)).content.decode()
    assert "News" in page
    assert "Signed up at the booth" in page
    assert "By eddie (dashboard)" in page
    assert "chain verifies" in page
    assert "Release 2.0" in page


def test_an_editor_unsubscribes_someone_from_one_list(client, team):
    newsletter, news, editor, _viewer = team
    other = MailingListFactory(newsletter=newsletter, slug="other")
    person = attested(newsletter, news, "ada@example.org")
    attested(newsletter, other, "ada@example.org")
    client.force_login(editor)
    client.post(url("subscriber_unsubscribe", newsletter, person.pk), {"list": "news"})
    statuses = dict(
        Subscription.objects.filter(subscriber=person).values_list("mailing_list__slug", "status")
    )
    assert statuses == {"news": "unsubscribed", "other": "confirmed"}
    event = person.consent_events.order_by("-id").first()
    assert (event.action, event.details["actor"]) == (
        ConsentAction.UNSUBSCRIBED,
        "eddie (dashboard)",
    )


def test_erasure_needs_the_address_typed(client, team):
    newsletter, news, editor, _viewer = team
    person = attested(newsletter, news, "ada@example.org")
    client.force_login(editor)
    response = client.post(
        url("subscriber_erase", newsletter, person.pk), {"confirm_email": "bob@example.org"}
    )
    assert response.status_code == 422
    person.refresh_from_db()
    assert person.email == "ada@example.org"

    response = client.post(
        url("subscriber_erase", newsletter, person.pk), {"confirm_email": "ADA@example.org"}
    )
    assert response["Location"] == url("subscriber_list", newsletter)
    person.refresh_from_db()
    assert (person.email, person.status) == (None, SubscriberStatus.ERASED)
    assert Suppression.objects.filter(reason="erased").count() == 1
    assert ledger.verify_chain(person).valid
    assert person.consent_events.order_by("-id").first().details == {"actor": "eddie (dashboard)"}


# Imports

CSV_WITH_A_BAD_ROW = (
    "E-mail,Full name,city,notes\n"
    "ada@example.org,Ada,London,first\n"
    "not-an-address,Bob,Paris,second\n"
    "grace@example.org,Grace,Arlington,third\n"
)


@pytest.fixture
def uploads(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR


def upload(client, newsletter, content: str, name: str = "people.csv") -> str:
    response = client.post(
        url("import_upload", newsletter, "news"),
        {"file": SimpleUploadedFile(name, content.encode(), content_type="text/csv")},
    )
    assert response.status_code == 302
    return response["Location"]


def test_upload_then_map_columns_and_dry_run_reports_bad_rows_by_line(client, team, uploads):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    mapping_page = upload(client, newsletter, CSV_WITH_A_BAD_ROW)
    page = client.get(mapping_page)
    assert [field.value() for field in page.context["form"].mapping_fields] == [
        "email",
        "name",
        "attribute",
        "attribute",
    ]
    response = client.post(
        mapping_page,
        {
            "action": "check",
            "attestation": "Our old list",
            "column_0": "email",
            "column_1": "name",
            "column_2": "attribute",
            "column_3": "ignore",
        },
    )
    report = response.context["report"]
    assert (report.rows, report.bad_rows) == (3, 1)
    assert report.problems[0][0] == 3
    assert "invalid email address" in report.problems[0][1]
    assert 'data-line="3"' in response.content.decode()
    assert not Subscriber.objects.exists()
    assert not ImportBatch.objects.exists()


def test_the_attestation_is_required(client, team, uploads):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    mapping_page = upload(client, newsletter, CSV_WITH_A_BAD_ROW)
    response = client.post(
        mapping_page,
        {"action": "import", "attestation": " ", **{f"column_{i}": "attribute" for i in range(4)}},
    )
    assert response.status_code == 422
    assert not ImportBatch.objects.exists()


def test_a_mapping_needs_one_email_column(client, team, uploads):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    mapping_page = upload(client, newsletter, CSV_WITH_A_BAD_ROW)
    response = client.post(
        mapping_page,
        {
            "action": "check",
            "attestation": "Our old list",
            **{f"column_{i}": "attribute" for i in range(4)},
        },
    )
    assert response.status_code == 422
    assert "exactly one column for the email address" in response.content.decode()


def test_import_queues_the_mapped_file_and_records_who_and_why(client, team, uploads, monkeypatch):
    newsletter, _news, editor, _viewer = team
    queued = []
    monkeypatch.setattr(
        tasks.import_subscribers, "delay_on_commit", lambda *args: queued.append(args)
    )
    client.force_login(editor)
    mapping_page = upload(client, newsletter, CSV_WITH_A_BAD_ROW, name="members.csv")
    response = client.post(
        mapping_page,
        {
            "action": "import",
            "attestation": "Members who ticked the newsletter box",
            "column_0": "email",
            "column_1": "name",
            "column_2": "attribute",
            "column_3": "ignore",
        },
    )
    batch = ImportBatch.objects.get()
    assert response["Location"] == url("import_detail", newsletter, batch.pk)
    [(queued_id, path)] = queued
    assert queued_id == batch.pk
    tasks.import_subscribers(batch.pk, path)  # what the worker runs
    batch.refresh_from_db()
    assert (batch.source_name, batch.actor) == ("members.csv", "eddie (dashboard)")
    assert (batch.lines_total, batch.created, batch.bad_rows) == (4, 2, 1)
    ada = Subscriber.objects.get(email="ada@example.org")
    assert (ada.name, ada.attributes) == ("Ada", {"city": "London"})
    assert batch.problems.get().line == 3
    assert not any(uploads.rglob("*.csv"))  # nothing left behind


def test_the_import_page_shows_the_result_and_stops_polling_when_done(client, team):
    newsletter, news, _editor, viewer = team
    batch = ImportBatch.objects.create(
        newsletter=newsletter,
        mailing_list=news,
        attestation="Old list",
        actor="eddie (dashboard)",
        status="running",
        lines_done=25000,
        lines_total=100001,
    )
    ImportBatch.objects.filter(pk=batch.pk).update(rows=24999)
    client.force_login(viewer)
    running = client.get(url("import_detail", newsletter, batch.pk), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert 'value="25000" max="100001"' in running.content.decode()
    # The same unit while running and when done: rows, as the table below counts them.
    assert "24999 rows read so far (25% of the file)." in running.content.decode()
    assert "lines" not in running.content.decode()
    ImportBatch.objects.filter(pk=batch.pk).update(status="done")
    done = client.get(url("import_detail", newsletter, batch.pk), HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in done.content.decode()
    assert "Done" in done.content.decode()


def test_a_token_that_names_no_upload_sends_back_to_the_upload_form(client, team, uploads):
    newsletter, _news, editor, _viewer = team
    client.force_login(editor)
    response = client.get(url("import_map", newsletter, "news", "0" * 32))
    assert response["Location"] == url("import_upload", newsletter, "news")
    response = client.get(url("import_map", newsletter, "news", "..%2F..%2Fetc"))
    assert response.status_code in (302, 404)
