from django.contrib import admin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["subject", "from_email", "recipients", "created_at"]
    search_fields = ["subject", "message_id"]
    readonly_fields = ["from_email", "recipients", "subject", "message_id", "created_at"]
    exclude = ["raw"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
