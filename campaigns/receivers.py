"""What the campaigns app does when something happens elsewhere."""

from django.dispatch import receiver

from newsletter.signals import newsletter_created

from . import services


@receiver(newsletter_created, dispatch_uid="campaigns.install_default_layouts")
def install_default_layouts(sender, *, newsletter, **kwargs) -> None:
    """A new newsletter starts with the stock layouts, ready for its first campaign."""
    services.install_default_layouts(newsletter=newsletter)
