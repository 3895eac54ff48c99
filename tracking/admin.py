from django.contrib import admin

from .models import CampaignCount, Link


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ["url", "campaign", "position", "clicks_human", "clicks_machine"]
    list_filter = ["campaign__newsletter"]
    search_fields = ["url"]
    readonly_fields = ["campaign", "position", "url", "clicks_human", "clicks_machine"]


@admin.register(CampaignCount)
class CampaignCountAdmin(admin.ModelAdmin):
    list_display = ["campaign", "opens_human", "opens_machine", "clicks_human", "clicks_machine"]
    readonly_fields = [field.name for field in CampaignCount._meta.fields]
