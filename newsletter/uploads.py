"""Size caps for uploaded files, named by setting so that every way in (a dashboard
form, the API) refuses the same file with the same words."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _


@deconstructible
class MaxUploadSize:
    """Validator: the file may hold at most ``settings.<setting>`` bytes."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def __call__(self, upload) -> None:
        limit = getattr(settings, self.setting)
        if upload is not None and upload.size > limit:
            raise ValidationError(
                _("The file is %(size)s MB; the most Crier takes is %(limit)s MB.")
                % {"size": f"{upload.size / settings.MB:.1f}", "limit": f"{limit / settings.MB:g}"},
                code="too_large",
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, MaxUploadSize) and other.setting == self.setting
