"""The import benchmark's ceiling writes what an import leaves: a person, a subscription
and a ledger event per line, through every constraint of the three tables."""

import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from bench import imports
from subscribers.models import ConsentEvent, Subscriber, Subscription
from tests.factories import MailingListFactory


def _conninfo() -> str:
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    return make_conninfo(**{key: params[key] for key in keys if params.get(key)})


@pytest.mark.django_db(transaction=True)
def test_the_bare_copy_lands_every_line_in_the_three_tables(tmp_path, monkeypatch):
    mailing_list = MailingListFactory(slug="large")
    Subscriber.objects.create(newsletter=mailing_list.newsletter, email="first@example.org")
    monkeypatch.setattr(imports, "ROWS", 250)
    monkeypatch.setattr(imports, "CEILING_CHUNK_ROWS", 100)  # three chunks
    path = tmp_path / "people.csv"
    imports.generate(path, 250)

    seconds = imports.ceiling(_conninfo(), path, "large")

    assert seconds > 0
    people = Subscriber.objects.filter(newsletter=mailing_list.newsletter)
    assert people.count() == 251
    assert people.filter(email="Person.0@Example0.org", attributes__city="Lyon").exists()
    assert Subscription.objects.filter(mailing_list=mailing_list, status="confirmed").count() == 250
    assert ConsentEvent.objects.filter(mailing_list=mailing_list).count() == 250
    # Ids came from the sequences: what is created next does not collide.
    Subscriber.objects.create(newsletter=mailing_list.newsletter, email="next@example.org")
