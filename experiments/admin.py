from django.contrib import admin

from .models import Experiment, Variant


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("campaign", "metric", "state", "winner", "decide_at")
    list_filter = ("state", "metric")
    readonly_fields = ("state", "started_at", "decide_at", "winner", "decided_at", "reason")
    inlines = [VariantInline]
