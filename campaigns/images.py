"""Image uploads: only the bitmap formats mail clients show, checked by content."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from newsletter.models import Newsletter

from .models import Image

# Magic numbers of the formats mail clients display. SVG is refused: it can carry script.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"GIF87a": ("image/gif", "gif"),
    b"GIF89a": ("image/gif", "gif"),
}


def sniff(head: bytes) -> tuple[str, str] | None:
    for signature, kind in SIGNATURES.items():
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("image/webp", "webp")
    return None


def image_upload(*, newsletter: Newsletter, upload: UploadedFile, alt: str, created_by) -> Image:
    """Store an image under a random name; refuse anything that is not a known bitmap."""
    if upload.size > settings.IMAGE_UPLOAD_MAX_BYTES:
        raise ValidationError(
            _("The image is larger than %(limit)s MB.")
            % {"limit": settings.IMAGE_UPLOAD_MAX_BYTES // (1024 * 1024)},
            code="too_large",
        )
    head = upload.read(16)
    upload.seek(0)
    kind = sniff(head)
    if kind is None:
        raise ValidationError(
            _("Upload a PNG, JPEG, GIF or WebP image; this file is none of them."),
            code="not_an_image",
        )
    content_type, extension = kind
    image = Image(
        newsletter=newsletter,
        alt=alt,
        content_type=content_type,
        size=upload.size,
        created_by=created_by,
    )
    image.file.save(f"{secrets.token_urlsafe(12)}.{extension}", upload, save=False)
    image.save()
    return image
