import pytest

from tracking import tokens
from tracking.buffer import get_buffer
from tracking.models import Link

from .conftest import make_campaign, send_to, tracking_urls

pytestmark = pytest.mark.django_db


def test_the_pixel_is_an_image_even_for_a_bad_token(client):
    for path in ("/t/o/nonsense.gif", f"/t/o/{tokens.sign(tokens.CLICK, 1, 2)}.gif"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response.content.startswith(b"GIF89a")
        assert "no-cache" in response["Cache-Control"]
    assert get_buffer().pending() == 0


def test_a_click_leads_to_the_link_that_was_in_the_campaign(client, subscriber):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    responses = [client.get(path) for path in tracking_urls(html)["click"]]
    targets = {response["Location"] for response in responses if response.status_code == 302}
    assert [response.status_code for response in responses] == [302, 302, 302, 404]
    assert targets == {"https://example.org/notes?a=1&b=2", "https://docs.example.org/"}


def test_a_tampered_or_foreign_click_token_never_redirects(client, subscriber):
    campaign = make_campaign()
    other = make_campaign()
    send_to(other, subscriber)
    foreign_link = Link.objects.filter(campaign=other).first()
    token = tokens.sign(tokens.CLICK, campaign.pk, Link.objects.filter(campaign=other).first().pk)
    payload, mac = token.rsplit(".", 1)
    for path in (
        f"/t/c/{token}/",  # a link of another campaign
        f"/t/c/{tokens.sign(tokens.CLICK, campaign.pk, 999999)}/",  # no such link
        f"/t/c/{campaign.pk}.{foreign_link.pk}.0.{mac}/",
        f"/t/c/{payload}.{'A' * len(mac)}/",
        "/t/c/https%3A%2F%2Fevil.example/",
        f"/t/c/{tokens.sign(tokens.OPEN, other.pk, foreign_link.pk)}/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Location" not in response


def test_the_redirect_ignores_anything_in_the_query_string(client, subscriber):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    path = tracking_urls(html)["click"][0]
    response = client.get(path, {"url": "https://evil.example/", "next": "https://evil.example/"})
    assert response["Location"] == "https://example.org/notes?a=1&b=2"


def test_with_tracking_off_links_still_redirect_but_nothing_is_recorded(client, subscriber):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    campaign.newsletter.tracking_policy = "off"
    campaign.newsletter.save()
    urls = tracking_urls(html)
    assert client.get(urls["click"][0]).status_code == 302
    assert client.get(urls["open"][0]).status_code == 200
    assert get_buffer().pending() == 0


def test_a_hit_is_buffered_not_written_to_postgresql(
    client, subscriber, django_assert_max_num_queries
):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    client.get(urls["open"][0])  # reads the policy once per process
    client.get(urls["click"][0])  # and the link once
    with django_assert_max_num_queries(0):
        client.get(urls["open"][0])
        client.get(urls["click"][0])
    assert get_buffer().pending() == 4


def test_the_fast_path_keeps_the_security_headers_and_the_host_check(client, subscriber):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    for path in (urls["open"][0], urls["click"][0]):
        response = client.get(path)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-cache" in response["Cache-Control"]
        assert client.get(path, HTTP_HOST="evil.example").status_code == 400
    assert get_buffer().pending() == 2


def test_other_methods_and_paths_under_t_go_through_the_pages(client, subscriber):
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    assert client.post(urls["open"][0]).status_code == 405
    assert client.post(urls["click"][0]).status_code == 405
    assert client.get(urls["click"][0].rstrip("/")).status_code in (301, 404)
    assert client.get("/t/o/nested/token.gif").status_code == 404
    assert get_buffer().pending() == 0


def test_hits_skip_the_page_middleware_and_pages_do_not(client, subscriber):
    """The content security policy is the last page middleware's: a hit answered before
    them has none, the 404 page of a click that is not valid has one."""
    campaign = make_campaign()
    _, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    for path in (urls["open"][0], urls["click"][0]):
        assert "Content-Security-Policy" not in client.get(path)
    refused = client.get(f"/t/c/{tokens.sign(tokens.CLICK, campaign.pk, 999999)}/")
    assert refused.status_code == 404
    assert "default-src" in refused["Content-Security-Policy"]
