from django.contrib import admin

from .models import DeliveryEvent, OutboxMessage, SendingBackend


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


@admin.register(SendingBackend)
class SendingBackendAdmin(admin.ModelAdmin):
    """Listed for overview; edited on the owner's dashboard page, which keeps the
    secrets encrypted and never shows them (they are not even loaded here)."""

    list_display = ["newsletter", "kind", "active", "rate_per_second", "rate_per_day"]
    list_filter = ["kind", "active"]
    exclude = ["secrets"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
