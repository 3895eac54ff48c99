from django.contrib import admin

from .models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression


@admin.register(MailingList)
class MailingListAdmin(admin.ModelAdmin):
    list_display = ["name", "newsletter", "slug", "public", "opt_in"]
    list_filter = ["newsletter", "public", "opt_in"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    readonly_fields = ["mailing_list", "status", "created_at", "confirmed_at", "unsubscribed_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConsentEventInline(admin.TabularInline):
    """The ledger, read-only: admins see it but never edit it."""

    model = ConsentEvent
    extra = 0
    fields = ["created_at", "action", "source", "mailing_list", "wording", "ip_address"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    """Instance admins see every newsletter's contacts (the only place that does)."""

    list_display = ["__str__", "newsletter", "name", "status", "created_at"]
    list_filter = ["status", "newsletter"]
    search_fields = ["email", "name"]
    readonly_fields = ["newsletter", "status", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        """A contact's newsletter is chosen when it is added, and never changes."""
        return self.readonly_fields if obj else self.readonly_fields[1:]

    inlines = [SubscriptionInline, ConsentEventInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email_digest", "newsletter", "reason", "created_at"]
    list_filter = ["reason", "newsletter"]
    readonly_fields = ["email_digest", "created_at"]
