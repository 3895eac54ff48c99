from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"
    verbose_name = "Newsletters"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
