"""Contacts per newsletter, step 3 of 3: the rule, enforced by the database.

Every contact now has a newsletter; an address is unique within one; indexes lead
with the newsletter. A subscription's two composite foreign keys, (newsletter,
subscriber) and (newsletter, mailing list), refuse any row that would put one
newsletter's contact on another newsletter's list, whatever code writes it.
"""

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models

FOREIGN_KEYS = {
    "subscription_contact_in_newsletter": (
        "(newsletter_id, subscriber_id)",
        "subscribers_subscriber (newsletter_id, id)",
    ),
    "subscription_list_in_newsletter": (
        "(newsletter_id, mailing_list_id)",
        "subscribers_mailinglist (newsletter_id, id)",
    ),
}


def add_foreign_keys(apps, schema_editor):
    for name, (columns, target) in FOREIGN_KEYS.items():
        schema_editor.execute(
            f"ALTER TABLE subscribers_subscription ADD CONSTRAINT {name}"
            f" FOREIGN KEY {columns} REFERENCES {target}"
        )


def drop_foreign_keys(apps, schema_editor):
    for name in FOREIGN_KEYS:
        schema_editor.execute(f"ALTER TABLE subscribers_subscription DROP CONSTRAINT {name}")


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0011_contacts_per_newsletter_split")]

    operations = [
        migrations.AlterField(
            model_name="subscriber",
            name="newsletter",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="newsletter.newsletter",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="newsletter",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="newsletter.newsletter",
            ),
        ),
        migrations.RemoveIndex(model_name="subscriber", name="subscribers_created_2848f8_idx"),
        migrations.RemoveIndex(model_name="subscriber", name="subscriber_inactive_status"),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(fields=["newsletter", "created_at"], name="contact_created"),
        ),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(
                condition=models.Q(("status", "active"), _negated=True),
                fields=["newsletter", "status"],
                name="contact_inactive_status",
            ),
        ),
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(
                condition=models.Q(("split_from__isnull", False)),
                fields=["split_from"],
                name="contact_split_from",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscriber",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                models.F("newsletter"),
                name="one_contact_per_address",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscriber",
            constraint=models.UniqueConstraint(
                fields=("newsletter", "id"), name="contact_in_newsletter"
            ),
        ),
        migrations.AddConstraint(
            model_name="mailinglist",
            constraint=models.UniqueConstraint(
                fields=("newsletter", "id"), name="list_in_newsletter"
            ),
        ),
        migrations.RunPython(add_foreign_keys, drop_foreign_keys),
    ]
