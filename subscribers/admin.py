from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import (
    ConsentEvent,
    FieldDefinition,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    address_digest,
)


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


class SuppressionForm(forms.ModelForm):
    """An admin suppresses an address by typing it; only its digest is stored. With no
    newsletter it stops every newsletter's mail: the instance admin is one of the few
    who may decide that (see subscribers/suppressions.py)."""

    email = forms.EmailField(label=_("Address"), help_text=_("Stored only as a digest."))

    class Meta:
        model = Suppression
        fields = ["email", "newsletter", "reason", "note"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("email"):
            self.instance.email_digest = address_digest(cleaned["email"])
            duplicate = Suppression.objects.filter(
                email_digest=self.instance.email_digest, newsletter=cleaned.get("newsletter")
            )
            if duplicate.exists():
                raise forms.ValidationError(_("This address is already suppressed there."))
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email_digest", "newsletter", "reason", "created_at"]
    list_filter = ["reason", "newsletter"]
    readonly_fields = ["email_digest", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return SuppressionForm.Meta.fields
        return ["email_digest", "newsletter", "reason", "note", "created_at"]


@admin.register(FieldDefinition)
class FieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["label", "key", "type", "newsletter"]
    list_filter = ["newsletter", "type"]
    search_fields = ["label", "key"]
    readonly_fields = ["key", "type", "newsletter", "choices"]
