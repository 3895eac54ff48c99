"""Which newsletter's connection stored an outbox copy: erasing a newsletter's contact
removes that newsletter's copies of their mail, and no other's."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0006_campaign_index_covered"),
        ("newsletter", "0004_newsletter_record_tracking_ip"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="newsletter",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox_messages",
                to="newsletter.newsletter",
            ),
        ),
    ]
