from django.db import migrations, models

# Campaigns that already started get their count from the rows they have.
BACKFILL = """
UPDATE campaigns_campaign AS campaign
SET recipient_count = (
    SELECT count(*) FROM delivery_delivery AS delivery WHERE delivery.campaign_id = campaign.id
)
WHERE campaign.status IN ('sending', 'paused', 'sent', 'cancelled')
"""


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_images"),
        ("delivery", "0003_live_lease_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="recipient_count",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
