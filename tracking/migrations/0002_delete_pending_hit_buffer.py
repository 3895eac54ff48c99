"""The embedded mode's table of tracking hits goes: ``make run`` buffers them in its own
Redis now, like production (tracking/buffer.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(
            name="PendingHit",
        ),
    ]
