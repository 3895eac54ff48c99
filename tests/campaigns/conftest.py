import pytest

from campaigns.rendering import DEFAULT_LAYOUTS, Recipient
from tests.campaigns.samples import layout_source


@pytest.fixture(params=[stock.name for stock in DEFAULT_LAYOUTS])
def default_layout(request) -> str:
    return layout_source(request.param)


@pytest.fixture
def reader() -> Recipient:
    return Recipient(
        email="ada@example.org",
        name="Ada",
        attributes={"city": "London"},
        list_name="Announcements",
        unsubscribe_url="https://crier.example.org/s/unsubscribe/tok-1/",
        preferences_url="https://crier.example.org/s/prefs/tok-1/",
        web_version_url="https://crier.example.org/n/demo/archive/demo-2-0/",
    )
