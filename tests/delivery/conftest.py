import pytest

from tests.fake_esp import FakeESP


@pytest.fixture
def fake_esp(settings):
    """A local ESP HTTP API on 127.0.0.1 (point a backend's api_url at ``fake_esp.url``),
    which the instance admin allows as a sending destination."""
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    with FakeESP() as esp:
        yield esp
