from django import forms
from django.utils.translation import gettext_lazy as _

from audiences.models import Segment
from campaigns.models import Layout
from newsletter.models import Newsletter

from .models import Feed
from .services import EDITABLE_FIELDS, MAX_ITEMS


class FeedForm(forms.ModelForm):
    """Field-level input only; the service fetches the feed and checks the issue renders."""

    class Meta:
        model = Feed
        fields = ["name", "url", "lists", *EDITABLE_FIELDS[2:]]
        widgets = {
            "url": forms.URLInput(attrs={"placeholder": "https://example.org/releases.atom"}),
            "action": forms.RadioSelect,
            "intro": forms.Textarea(attrs={"rows": 3, "class": "code"}),
            "item_template": forms.Textarea(attrs={"rows": 5, "class": "code"}),
            "lists": forms.CheckboxSelectMultiple,
        }
        labels = {"lists": _("Send to")}

    def __init__(self, *args, newsletter: Newsletter, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].queryset = Layout.objects.filter(newsletter=newsletter)
        self.fields["layout"].empty_label = None
        # Archived lists get no new campaigns.
        self.fields["lists"].queryset = newsletter.lists.active()
        self.fields["lists"].label_from_instance = lambda mailing_list: mailing_list.name
        self.fields["segment"].queryset = Segment.objects.filter(newsletter=newsletter)
        self.fields["segment"].empty_label = _("Everyone on its lists")
        self.fields["max_items"].widget.attrs.update({"min": 1, "max": MAX_ITEMS})

    def _post_clean(self) -> None:
        """Skip ModelForm's model validation: the service runs it, with the fetch."""
