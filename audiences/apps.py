from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "audiences"
    verbose_name = "Audiences"

    def ready(self) -> None:
        from subscribers import extensions

        from . import services

        extensions.register_segments(
            extensions.Segments(
                options=services.segment_options, matching=services.segment_matching
            )
        )
