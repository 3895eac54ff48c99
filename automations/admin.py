from django.contrib import admin

from .models import Automation, Enrolment, Step


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = ["position", "kind", "campaign", "delay", "weekday", "hour", "zone_of", "removed_at"]
    readonly_fields = fields


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    """Read-mostly: building and running goes through the dashboard or the API, whose
    services keep the steps' emails and the status consistent."""

    list_display = ["name", "newsletter", "trigger", "status", "updated_at"]
    list_filter = ["newsletter", "trigger", "status"]
    search_fields = ["name"]
    readonly_fields = ["newsletter", "trigger", "trigger_field", "status", "created_by"]
    inlines = [StepInline]


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ["automation", "subscriber", "state", "step", "next_run_at", "enrolled_at"]
    list_filter = ["state", "trigger"]
    raw_id_fields = ["automation", "subscriber", "step"]
    readonly_fields = ["automation", "subscriber", "step", "trigger", "enrolled_at", "finished_at"]
