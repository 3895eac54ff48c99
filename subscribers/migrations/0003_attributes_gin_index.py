"""A GIN index for filtering subscribers by attribute (``attributes @> {...}``)."""

from django.db import migrations

INDEX = "subscribers_subscriber_attributes_gin"


def create(apps, schema_editor):
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON subscribers_subscriber"
        " USING gin (attributes jsonb_path_ops)"
    )


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0002_import_batches")]

    operations = [migrations.RunPython(create, drop)]
