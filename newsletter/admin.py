from django.contrib import admin

from .models import Membership, Newsletter


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Newsletter)
class NewsletterAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "from_email", "tracking_policy", "created_at"]
    search_fields = ["name", "slug", "from_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "language", "timezone"]}),
        ("Sender", {"fields": ["from_name", "from_email", "reply_to", "postal_address"]}),
        (
            "Privacy and consent",
            {
                "fields": [
                    "tracking_policy",
                    "record_tracking_ip",
                    "consent_text",
                    "record_consent_ip",
                ]
            },
        ),
        ("Abuse protection", {"fields": ["require_proof_of_work"]}),
    ]
