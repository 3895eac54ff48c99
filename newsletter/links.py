from django.conf import settings
from django.urls import reverse


def absolute_url(viewname: str, **kwargs) -> str:
    """A link for an email: SITE_URL, never the request's Host header."""
    return f"{settings.SITE_URL}{reverse(viewname, kwargs=kwargs)}"
