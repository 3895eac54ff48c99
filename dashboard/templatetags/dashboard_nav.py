"""The newsletter's sub-navigation: one list of sections, the same on every page of it."""

from django import template
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from newsletter.models import Role

register = template.Library()

# In the order shown. The newsletter's own page comes first, under its name.
SECTIONS = (
    ("dashboard:campaign_list", _("Campaigns")),
    ("dashboard:list_index", _("Lists")),
    ("dashboard:subscriber_list", _("Subscribers")),
    ("dashboard:segment_list", _("Segments")),
    ("dashboard:layout_list", _("Layouts")),
    ("dashboard:image_list", _("Images")),
    ("dashboard:automation_list", _("Automations")),
    ("dashboard:participation", _("Participation")),
    ("dashboard:feed_list", _("Feeds")),
)


@register.inclusion_tag("dashboard/_newsletter_nav.html", takes_context=True)
def newsletter_nav(context) -> dict:
    """Every section, the page's own marked as current (the longest matching prefix:
    a layout's page is under Layouts, not under Campaigns whose path it starts with).
    Settings are listed for owners only, as only they may open them."""
    request, newsletter = context["request"], context["newsletter"]
    home = reverse("dashboard:newsletter", kwargs={"slug": newsletter.slug})
    items = [(home, newsletter.name)] + [
        (reverse(name, kwargs={"slug": newsletter.slug}), label) for name, label in SECTIONS
    ]
    if getattr(request, "role", None) == Role.OWNER:
        settings = reverse("dashboard:settings", kwargs={"slug": newsletter.slug})
        items.append((settings, _("Settings")))
    current = max(
        (url for url, _label in items if request.path.startswith(url)), key=len, default=""
    )
    return {
        "newsletter": newsletter,
        # aria-current: "page" on the section's own page, "true" on the pages under it.
        "items": [
            (url, label, ("page" if url == request.path else "true") if url == current else "")
            for url, label in items
        ],
        "public_url": reverse("subscribers:newsletter", kwargs={"slug": newsletter.slug}),
    }
