from django.core.exceptions import ValidationError


def one_line(error: ValidationError) -> str:
    """A service's ValidationError as the one line a command prints: "field: message"."""
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)
