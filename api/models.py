import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from newsletter.models import Newsletter, Role

TOKEN_PREFIX = "crier_"  # noqa: S105 (a marker, not a secret)


def hash_token(raw: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for one user in one newsletter; only its hash is stored.

    Its ``role`` is a ceiling: a request gets the lower of it and the user's current
    role, so demoting or removing a member also weakens their tokens at once.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    prefix = models.CharField(max_length=16, help_text=_("The first characters, to recognise it."))
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}, {self.newsletter})"
