from django.contrib import admin

from .models import Campaign, Layout


@admin.register(Layout)
class LayoutAdmin(admin.ModelAdmin):
    list_display = ["name", "newsletter", "updated_at"]
    list_filter = ["newsletter"]
    search_fields = ["name", "description"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "newsletter", "subject", "status", "public", "sent_at", "updated_at"]
    list_filter = ["newsletter", "status", "public", "body_format"]
    search_fields = ["name", "subject", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["created_by"]
    readonly_fields = ["rendered_digest", "rendered_html_bytes", "render_problems"]
    fieldsets = [
        (None, {"fields": ["newsletter", "name", "slug", "subject", "preheader", "layout"]}),
        ("Content", {"fields": ["body_format", "body", "public"]}),
        ("Sending", {"fields": ["status", "send_at", "sent_at", "created_by"]}),
        (
            "Render cache",
            {
                "classes": ["collapse"],
                "fields": ["rendered_digest", "rendered_html_bytes", "render_problems"],
            },
        ),
    ]
