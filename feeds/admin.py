from django.contrib import admin

from .models import Feed, FeedItem


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    """Read-mostly: feeds are followed from the dashboard or the API, whose services
    fetch and check the address before anything is saved."""

    list_display = ("name", "newsletter", "url", "action", "schedule", "active", "next_run_at")
    list_filter = ("active", "action", "schedule")
    search_fields = ("name", "url", "newsletter__slug")
    readonly_fields = ("url", "title", "next_run_at", "last_run_at", "last_error")
    fields = ("newsletter", "name", "url", "title", "active", "next_run_at", "last_run_at",
              "last_error")  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(FeedItem)
class FeedItemAdmin(admin.ModelAdmin):
    list_display = ("title", "feed", "published", "campaign", "seen_at")
    search_fields = ("title", "url", "feed__name")
    readonly_fields = ("feed", "key", "title", "url", "published", "campaign", "seen_at")

    def has_add_permission(self, request) -> bool:
        return False
