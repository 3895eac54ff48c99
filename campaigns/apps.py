from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from subscribers import extensions

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .selectors import public_page_archive

        extensions.register_page_section(public_page_archive)
