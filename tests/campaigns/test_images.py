import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Image
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://news.example.org"


def upload(client, membership, content=PNG, name="chart.png", alt="Startup time chart"):
    return client.post(
        reverse("dashboard:image_list", args=[membership.newsletter.slug]),
        {"file": SimpleUploadedFile(name, content), "alt": alt},
    )


def test_an_editor_uploads_an_image_and_gets_its_markdown(client):
    membership = MembershipFactory(role="editor")
    client.force_login(membership.user)
    assert upload(client, membership).status_code == 302
    image = Image.objects.get()
    assert image.content_type == "image/png"
    assert image.file.name.endswith(".png") and "chart" not in image.file.name
    assert image.absolute_url().startswith("https://news.example.org/media/images/")
    page = client.get(reverse("dashboard:image_list", args=[membership.newsletter.slug]))
    assert f"![Startup time chart]({image.absolute_url()})" in page.content.decode()
    served = client.get(image.file.url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PNG
    assert "immutable" in served["Cache-Control"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "x.svg", "this file is none"),
        (b"just text", "notes.png", "this file is none"),
    ],
)
def test_anything_but_a_bitmap_is_refused(client, content, name, message):
    membership = MembershipFactory(role="editor")
    client.force_login(membership.user)
    response = upload(client, membership, content=content, name=name)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Image.objects.exists()


def test_an_oversized_image_is_refused(client, settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 1024 * 1024
    membership = MembershipFactory(role="editor")
    client.force_login(membership.user)
    response = upload(client, membership, content=PNG + b"\x00" * (1024 * 1024))
    assert "larger than 1 MB" in response.content.decode()
    assert not Image.objects.exists()


def test_viewers_see_images_but_cannot_upload(client):
    membership = MembershipFactory(role="viewer")
    client.force_login(membership.user)
    assert (
        client.get(reverse("dashboard:image_list", args=[membership.newsletter.slug])).status_code
        == 200
    )
    assert upload(client, membership).status_code == 403
