"""One error shape for every endpoint: ``{"detail": "...", "errors": {"field": ["..."]}}``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError as NinjaValidationError

# Where a value came from is noise for a client: "body", "query" and the parameter
# object ninja wraps them in are dropped from the field path.
_CONTAINERS = {"body", "query", "path", "form", "file", "payload", "filters"}


class FieldError(Exception):
    def __init__(self, errors: dict[str, list[str]], status: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


def field_error(field: str, message: str) -> FieldError:
    return FieldError({field: [message]})


def from_django(error: DjangoValidationError, field: str) -> FieldError:
    """A service's ValidationError, attached to the field the client sent."""
    if hasattr(error, "error_dict"):
        return FieldError({key: list(map(str, value)) for key, value in error.message_dict.items()})
    return FieldError({field: error.messages})


def _field_name(location: tuple | list) -> str:
    parts = [str(part) for part in location if str(part) not in _CONTAINERS]
    return ".".join(parts) or "__all__"


def install(api: NinjaAPI) -> None:
    @api.exception_handler(NinjaValidationError)
    def invalid_input(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors: dict[str, list[str]] = {}
        for error in exc.errors:
            message = error.get("msg", "Invalid value.")
            errors.setdefault(_field_name(error.get("loc", ())), []).append(message)
        return api.create_response(
            request, {"detail": "Invalid input.", "errors": errors}, status=422
        )

    @api.exception_handler(FieldError)
    def field_errors(request: HttpRequest, exc: FieldError) -> HttpResponse:
        return api.create_response(
            request, {"detail": "Invalid input.", "errors": exc.errors}, status=exc.status
        )
