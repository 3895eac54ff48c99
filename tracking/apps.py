from django.apps import AppConfig


class TrackingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from delivery.compose import register_compose_stage

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services import campaign_tracking

        # Every campaign message gets its links rewritten and its pixel here, as the
        # newsletter's tracking policy says: delivery never imports tracking.
        register_compose_stage(campaign_tracking)
