from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        # The variants reach the sending engine through campaigns' registry, and the
        # sample is drawn when the engine announces a start (neither imports this app).
        from campaigns import extensions

        from . import receivers, sections, services  # noqa: F401

        extensions.register_variants(services.variant_contents)
        extensions.register_editor_sections(sections.editor_sections)
        extensions.register_report_sections(sections.report_sections)
