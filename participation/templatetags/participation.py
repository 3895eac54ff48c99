from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

from ..blocks import format_amount

register = template.Library()


@register.simple_tag
def amount(goal, value) -> str:
    """A goal's amount as people read it: "1,250 EUR", "12 volunteers"."""
    return format_amount(goal, value)


@register.filter
def public_count(value) -> str:
    """A count the public may see, or what stands for one it may not (under 5)."""
    if value is None:
        return gettext("fewer than 5")
    return number_format(value, force_grouping=True)


@register.filter
def public_rate(value) -> str:
    """A percentage computed from counts the public may see, or a dash."""
    if value is None:
        return "—"
    return f"{number_format(value, decimal_pos=1)} %"
