"""Contacts who left every list through a link kept showing as active: mark them as
unsubscribed from everything, as ``services.unsubscribe`` now does when it happens."""

from django.db import migrations

LEFT_EVERY_LIST = """
UPDATE subscribers_subscriber s SET status = 'unsubscribed', updated_at = now()
WHERE s.status = 'active'
  AND EXISTS (SELECT 1 FROM subscribers_subscription t WHERE t.subscriber_id = s.id)
  AND NOT EXISTS (
    SELECT 1 FROM subscribers_subscription t
    WHERE t.subscriber_id = s.id AND t.status IN ('pending', 'confirmed')
  )
"""


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0014_consent_sources_mail_and_self_service")]

    operations = [migrations.RunSQL(LEFT_EVERY_LIST, migrations.RunSQL.noop)]
