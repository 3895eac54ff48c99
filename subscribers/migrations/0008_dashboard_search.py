"""The dashboard's search and filters: trigram GIN indexes on address and name, a
partial index of the rarer statuses, and an import's size (its progress bar's end).

Django compiles ``email__icontains="ada"`` to ``UPPER(email::text) LIKE UPPER('%ada%')``,
so the indexes are on that expression: the search is then a bitmap index scan
instead of a read of every subscriber (see docs/dashboard.md for the plan).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

INDEXES = {
    "subscribers_subscriber_email_trgm": "email",
    "subscribers_subscriber_name_trgm": "name",
}


def create(apps, schema_editor):
    for index, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON subscribers_subscriber"
            f" USING gin ((upper({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    for index in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0007_consent_newsletter_created_index")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create, drop),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(
                condition=models.Q(("status", "active"), _negated=True),
                fields=["status"],
                name="subscriber_inactive_status",
            ),
        ),
        migrations.AddField(
            model_name="importbatch",
            name="lines_total",
            field=models.PositiveBigIntegerField(
                default=0, help_text="Lines in the file, when known: the progress bar's end."
            ),
        ),
    ]
