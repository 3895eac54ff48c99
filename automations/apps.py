from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "automations"
    verbose_name = "Automations"

    def ready(self) -> None:
        # Enrols people when subscribers announce a confirmation (a signal: subscribers
        # never imports this app), and adds their automations to a person's own data.
        from . import personal, receivers  # noqa: F401

        personal.register()
