"""Contacts per newsletter, step 1 of 3: the new columns, nullable until 0011 fills them.

The single address index goes first (a person in two newsletters becomes two rows
with one address in 0011); suppressions get their scope; a subscription's plain
foreign keys are dropped, to be replaced by composite ones in 0012. See
docs/decisions.md, "Contacts per newsletter".
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("newsletter", "0004_newsletter_record_tracking_ip"),
        ("subscribers", "0009_import_formats_and_chunks"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="subscriber", name="one_subscriber_per_address"),
        migrations.AddField(
            model_name="subscriber",
            name="newsletter",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="newsletter.newsletter",
            ),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="split_from",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="subscription",
            name="newsletter",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="newsletter.newsletter",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="mailing_list",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="subscriptions",
                to="subscribers.mailinglist",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="subscriber",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="subscriptions",
                to="subscribers.subscriber",
            ),
        ),
        migrations.AddField(
            model_name="suppression",
            name="newsletter",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty: every newsletter of this instance.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="suppressions",
                to="newsletter.newsletter",
            ),
        ),
        migrations.AlterField(
            model_name="suppression",
            name="email_digest",
            field=models.CharField(max_length=64),
        ),
        migrations.AddConstraint(
            model_name="suppression",
            constraint=models.UniqueConstraint(
                condition=models.Q(("newsletter__isnull", True)),
                fields=("email_digest",),
                name="one_instance_suppression",
            ),
        ),
        migrations.AddConstraint(
            model_name="suppression",
            constraint=models.UniqueConstraint(
                condition=models.Q(("newsletter__isnull", False)),
                fields=("email_digest", "newsletter"),
                name="one_newsletter_suppression",
            ),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("subscribed", "Subscribed"),
                    ("confirmed", "Confirmed"),
                    ("preferences_changed", "Changed preferences"),
                    ("unsubscribed", "Unsubscribed"),
                    ("imported", "Imported with attestation"),
                    ("erased", "Erased"),
                    ("split", "Moved to a contact of its own newsletter"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="source",
            field=models.CharField(
                choices=[
                    ("form", "Subscribe form"),
                    ("api", "API"),
                    ("import", "Import"),
                    ("dashboard", "Dashboard"),
                    ("one_click", "One-click unsubscribe header"),
                    ("confirmation_link", "Confirmation link"),
                    ("preference_center", "Preference center"),
                    ("unsubscribe_page", "Unsubscribe page"),
                    ("esp_complaint", "Spam complaint reported by the sending service"),
                    ("esp_unsubscribe", "Unsubscribe reported by the sending service"),
                    ("self_service", "The person's own data page"),
                    ("migration", "Upgrade to contacts per newsletter"),
                ],
                max_length=30,
            ),
        ),
    ]
