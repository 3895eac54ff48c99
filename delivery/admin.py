from django.contrib import admin

from .models import DeliveryEvent, OutboxMessage


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


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(admin.ModelAdmin):
    """What ESPs and bounce mail reported, kept to recognise repeats; read-only."""

    list_display = ["received_at", "esp", "kind", "bounce_type", "delivery_id", "detail"]
    list_filter = ["esp", "kind", "bounce_type"]
    search_fields = ["event_id"]
    readonly_fields = [field.name for field in DeliveryEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
