"""One sub-navigation for a newsletter, the same on every one of its pages.

The pages come from the dashboard's URL resolver (as in the role matrix), so a page
added later is checked without editing this file; only what is not a page of its
own (a frame's content, a fragment, a download) is left out, by name.
"""

import re

import pytest
from django.urls import reverse

from newsletter.models import Role

from .test_role_matrix import NEWSLETTER_ROUTES, World

pytestmark = pytest.mark.django_db

# Not pages: what a sandboxed frame, an htmx request or a download receives.
NOT_PAGES = {
    "campaign_preview_html": "the mail's HTML, in a sandboxed frame",
    "layout_preview_html": "the mail's HTML, in a sandboxed frame",
    "campaign_live_preview_html": "the mail's HTML, in a sandboxed frame",
    "campaign_live_preview": "a fragment of the compose page",
    "campaign_recipients": "a fragment of the send page",
    "campaign_report_csv": "a download",
    "list_export": "a download",
    "consultation_csv": "a download",
}
SECTIONS = [
    "Campaigns",
    "Lists",
    "Subscribers",
    "Segments",
    "Layouts",
    "Images",
    "Automations",
    "Participation",
    "Feeds",
]
NAV = re.compile(
    r'<nav class="subnav container" aria-label="Newsletter sections">(.*?)</nav>', re.S
)


class Pages(World):
    """The role matrix's world, with a list to open by its slug."""

    def url(self, name: str, route: str) -> tuple[str, bool]:
        url, known = super().url(name, route)
        if re.search(r"lists/<slug:\w+>", route) and url.count("no-such-thing") == 1:
            url, known = url.replace("no-such-thing", self.newsletter.lists.first().slug), True
        return url, known


def sections_on(html: str) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", nav, re.S)]
        for nav in NAV.findall(html)
    ]


@pytest.mark.parametrize(
    ("name", "route"),
    [(name, route) for name, route in NEWSLETTER_ROUTES if name not in NOT_PAGES],
    ids=[name for name, _ in NEWSLETTER_ROUTES if name not in NOT_PAGES],
)
def test_every_page_of_a_newsletter_has_the_same_sections(client, name, route):
    world = Pages()
    url, objects_exist = world.url(name, route)
    name_of = world.newsletter.name
    checked = []
    for role, expected in (
        (Role.OWNER, [name_of, *SECTIONS, "Settings", "Public page"]),
        (Role.VIEWER, [name_of, *SECTIONS, "Public page"]),
    ):
        client.force_login(world.members[role])
        response = client.get(url)
        if response.status_code == 405:
            return  # only ever posted to
        if response.status_code == 403 or (response.status_code == 404 and not objects_exist):
            continue  # not this role's page, or an object this file cannot name
        assert response.status_code in (200, 422), f"{url}: {response.status_code}"
        assert sections_on(response.content.decode()) == [expected], f"{url} as {role}"
        checked.append(role)
    assert checked or not objects_exist, f"{url} was not checked"


def test_the_current_section_is_marked(client):
    world = World()
    client.force_login(world.members[Role.OWNER])
    slug = world.newsletter.slug
    page = client.get(reverse("dashboard:layout_list", args=[slug])).content.decode()
    nav = NAV.search(page).group(1)
    assert re.search(r'aria-current="page">Layouts<', nav)
    assert "Campaigns</a>" in nav and 'aria-current="page">Campaigns' not in nav
    campaign = world.objects["campaigns"]
    page = client.get(reverse("dashboard:campaign_preview", args=[slug, campaign])).content.decode()
    assert re.search(r'aria-current="true">Campaigns<', NAV.search(page).group(1))
