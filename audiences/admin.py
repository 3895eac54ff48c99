from django.contrib import admin

from .models import Segment


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    """Read-mostly: rules are checked by the dashboard and the API, not here."""

    list_display = ["name", "newsletter", "updated_at"]
    list_filter = ["newsletter"]
    search_fields = ["name"]
    readonly_fields = ["rules", "created_at", "updated_at"]
