from django.apps import AppConfig


class ParticipationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "participation"
    verbose_name = "Participation"

    def ready(self) -> None:
        # What this app adds to campaigns and to subscribers' pages, through their
        # registries (neither imports this app), and what it listens to.
        from . import blocks, personal, receivers  # noqa: F401

        blocks.register()
        personal.register()
