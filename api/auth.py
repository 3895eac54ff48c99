"""Bearer-token authentication, per-token rate limit, and role checks for the API."""

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from newsletter import ratelimit
from newsletter.models import Role

from .services import authenticate

RATE_WINDOW_SECONDS = 60


class RateLimited(HttpError):
    def __init__(self) -> None:
        super().__init__(429, "Too many requests for this token; retry in a minute.")


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; sets ``request.newsletter`` and ``request.role``."""

    def authenticate(self, request: HttpRequest, token: str):
        found = authenticate(token)
        if found is None:
            return None
        api_token, role = found
        if not ratelimit.hit(
            "api",
            str(api_token.pk),
            limit=settings.API_REQUESTS_PER_TOKEN_PER_MINUTE,
            window_seconds=RATE_WINDOW_SECONDS,
        ):
            raise RateLimited
        request.api_token = api_token
        request.newsletter = api_token.newsletter
        request.role = role
        return api_token


def require(request: HttpRequest, role: Role) -> None:
    """403 unless the token's effective role reaches ``role`` (viewers only read)."""
    if not Role.includes(request.role, role):
        raise HttpError(403, f"This token's role ({request.role}) cannot do this; needs {role}.")


def actor(request: HttpRequest) -> str:
    """Who to name in the consent ledger: the token's owner and which token."""
    return f"{request.api_token.user.get_username()} (API token {request.api_token.prefix}…)"
