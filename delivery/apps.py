from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from . import heartbeats, receivers  # noqa: F401  (connects the signal receivers)

        heartbeats.connect()
