"""Each sending backend gets its own tracking webhook URL key and basic-auth secret."""

import secrets

from django.db import migrations, models

from newsletter import encryption


def give_each_backend_its_webhook(apps, schema_editor):
    SendingBackend = apps.get_model("delivery", "SendingBackend")
    for backend in SendingBackend.objects.filter(webhook_key__isnull=True):
        backend.webhook_key = secrets.token_urlsafe(16)
        backend.webhook_secret = encryption.encrypt(secrets.token_urlsafe(24))
        backend.save(update_fields=["webhook_key", "webhook_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0006_campaign_index_covered"),
    ]

    operations = [
        migrations.AddField(
            model_name="sendingbackend",
            name="webhook_key",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.AddField(
            model_name="sendingbackend",
            name="webhook_secret",
            field=models.TextField(editable=False, null=True),
        ),
        migrations.RunPython(give_each_backend_its_webhook, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="sendingbackend",
            name="webhook_key",
            field=models.CharField(editable=False, max_length=32, unique=True),
        ),
        migrations.AlterField(
            model_name="sendingbackend",
            name="webhook_secret",
            field=models.TextField(editable=False),
        ),
    ]
