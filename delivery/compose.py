"""Compose stages: what other apps do to a campaign's message before it leaves, without
delivery importing them (docs/architecture.md, "Layers").

A stage is registered once, from its app's ``AppConfig.ready()``
(``register_compose_stage``); tracking's rewrites the links and adds the pixel. For
each rendered variant of a campaign, ``compose`` runs every stage in order, once, on
the render the previous one returned: the work is per campaign, never per recipient.
What a stage adds per recipient (a keyed hash in a slot) it returns from its result's
``values``, for the one recipient being built.

The render before any stage is the copy of readers who refuse all tracking; a stage
that changes nothing returns the render it was given, unchanged (the same object).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from campaigns.models import Campaign
from campaigns.rendering import Rendered


class Staged(Protocol):
    """What one stage made of a render: the render, and each recipient's slot values
    (``opted_out``: the reader refuses to be told apart; the stage must then add
    nothing that identifies them)."""

    rendered: Rendered

    def values(self, *, delivery_id: int, opted_out: bool) -> dict[str, str]: ...


# (campaign, render, experiment variant letter or "") → what the stage made of it.
ComposeStage = Callable[..., Staged]

_stages: list[ComposeStage] = []


def register_compose_stage(stage: ComposeStage) -> None:
    """Add ``stage`` to every campaign message from now on; registering twice is once."""
    if stage not in _stages:
        _stages.append(stage)


@dataclass(frozen=True)
class Composed:
    """A variant's render after every stage, and the stages' results."""

    rendered: Rendered
    staged: tuple[Staged, ...] = ()

    def values(self, *, delivery_id: int, opted_out: bool) -> dict[str, str]:
        """Every stage's slot values for one recipient."""
        values: dict[str, str] = {}
        for staged in self.staged:
            values.update(staged.values(delivery_id=delivery_id, opted_out=opted_out))
        return values


def compose(*, campaign: Campaign, rendered: Rendered, variant: str = "") -> Composed:
    """Run every registered stage over ``rendered``, in the order they registered."""
    staged = []
    for stage in _stages:
        result = stage(campaign=campaign, rendered=rendered, variant=variant)
        staged.append(result)
        rendered = result.rendered
    return Composed(rendered=rendered, staged=tuple(staged))
