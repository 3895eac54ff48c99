from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiToken
from .services import issue_token


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Creating a token shows it once, in a message; afterwards only its prefix is known."""

    list_display = ["prefix", "name", "user", "newsletter", "role", "last_used_at", "revoked_at"]
    list_filter = ["newsletter", "role"]
    fields = ["user", "newsletter", "name", "role", "prefix", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        """A token's owner, newsletter and role are fixed at creation: issue a new one."""
        if obj is not None:
            return [*self.fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = issue_token(
            user=obj.user, newsletter=obj.newsletter, role=obj.role, name=obj.name
        )
        obj.pk = token.pk
        messages.warning(request, f"Copy this token now, it will not be shown again: {raw}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
