"""Segments: saved rules that pick some of a newsletter's contacts (issue 15).

The rules are JSON (docs/audiences.md, "Rules"), checked and compiled to one
parameterised SQL condition by ``audiences.rules``; nothing here stores SQL.
"""

from django.db import models

from newsletter.models import Newsletter


def everyone() -> dict:
    return {"all": []}


class Segment(models.Model):
    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=everyone)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["newsletter", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "name"], name="segment_name_per_newsletter"
            )
        ]

    def __str__(self) -> str:
        return self.name
