from django.apps import AppConfig


class TrackingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)
