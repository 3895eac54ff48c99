from django import forms
from django.utils.translation import gettext_lazy as _

from .models import LABELS, Decision, Experiment, Metric, SampleKind
from .services import VariantInput


class ExperimentForm(forms.Form):
    """The experiment and four variant slots; the variants are the slots up to the last
    one filled, so an empty slot before it is an empty variant (an error)."""

    metric = forms.ChoiceField(label=_("Winner by"), choices=Metric.choices)
    sample_kind = forms.ChoiceField(label=_("Sample as"), choices=SampleKind.choices)
    sample_size = forms.IntegerField(
        label=_("Sample size"),
        min_value=1,
        help_text=_(
            "A percentage (1 to 99) or a number of people, split evenly between the variants."
        ),
    )
    wait_hours = forms.IntegerField(
        label=_("Decide after (hours)"),
        min_value=1,
        max_value=336,
        help_text=_("Counted from the start of sending."),
    )
    decision = forms.ChoiceField(label=_("Decision"), choices=Decision.choices)

    def __init__(self, *args, experiment: Experiment | None = None, **kwargs) -> None:
        initial = {"metric": Metric.OPENS, "sample_kind": SampleKind.PERCENT, "sample_size": 20}
        initial["wait_hours"] = 4
        if experiment is not None:
            initial.update(
                metric=experiment.metric,
                sample_kind=experiment.sample_kind,
                sample_size=experiment.sample_size,
                wait_hours=experiment.wait_hours,
                decision=experiment.decision,
            )
            for variant in experiment.variants.all():
                initial[f"variant_{variant.label}_subject"] = variant.subject
                initial[f"variant_{variant.label}_body"] = variant.body
        super().__init__(*args, initial=initial, **kwargs)
        for label in LABELS:
            self.fields[f"variant_{label}_subject"] = forms.CharField(
                label=_("Variant %(label)s: subject") % {"label": label},
                required=False,
                max_length=250,
                help_text=_("Empty: the campaign's subject."),
            )
            self.fields[f"variant_{label}_body"] = forms.CharField(
                label=_("Variant %(label)s: body") % {"label": label},
                required=False,
                widget=forms.Textarea(attrs={"rows": 4}),
                help_text=_("Empty: the campaign's body."),
            )

    def variants(self) -> list[VariantInput]:
        data = self.cleaned_data
        slots = [
            VariantInput(
                subject=data.get(f"variant_{label}_subject", ""),
                body=data.get(f"variant_{label}_body", ""),
            )
            for label in LABELS
        ]
        while slots and not (slots[-1].subject.strip() or slots[-1].body.strip()):
            slots.pop()
        return slots

    def add_variant_errors(self, errors: dict[str, list[str]]) -> None:
        """A service error on ``variant_X`` goes next to that variant's subject."""
        for field, messages in errors.items():
            target = f"{field}_subject" if field.startswith("variant_") else field
            self.add_error(target if target in self.fields else None, messages)
