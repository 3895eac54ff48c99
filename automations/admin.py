from django.contrib import admin

from .models import Automation, Enrolment, Step


class ReadOnly:
    """Building and running go through the dashboard or the API, whose services keep the
    steps' emails, their lists and the status consistent: the admin only shows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class StepInline(ReadOnly, admin.TabularInline):
    model = Step
    extra = 0
    fields = ["position", "kind", "campaign", "delay", "weekday", "hour", "zone_of", "removed_at"]


@admin.register(Automation)
class AutomationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "newsletter", "trigger", "status", "updated_at"]
    list_filter = ["newsletter", "trigger", "status"]
    search_fields = ["name"]
    inlines = [StepInline]


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["automation", "subscriber", "state", "step", "next_run_at", "enrolled_at"]
    list_filter = ["state", "trigger"]
