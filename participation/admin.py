"""Read-mostly admin views: everything is changed through the dashboard's services,
which keep the rollups and the consent records right."""

from django.contrib import admin

from .models import Call, Consultation, Goal, GoalUpdate, ParticipationSettings, Submission


@admin.register(ParticipationSettings)
class ParticipationSettingsAdmin(admin.ModelAdmin):
    list_display = ["newsletter", "transparency_page", "referral_thanks"]


@admin.register(Consultation)
class ConsultationAdmin(admin.ModelAdmin):
    list_display = ["title", "newsletter", "public_results", "closes_at"]
    list_filter = ["newsletter"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["title", "newsletter", "closes_at"]
    list_filter = ["newsletter"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["title", "call", "status", "credit_name", "created_at"]
    list_filter = ["status", "call__newsletter"]
    readonly_fields = [field.name for field in Submission._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["title", "newsletter", "kind", "current", "target", "cta_clicks"]
    list_filter = ["newsletter"]
    readonly_fields = ["current", "cta_clicks", "webhook_key", "webhook_version"]


@admin.register(GoalUpdate)
class GoalUpdateAdmin(admin.ModelAdmin):
    list_display = ["goal", "kind", "amount", "total", "source", "created_at"]
    readonly_fields = [field.name for field in GoalUpdate._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
