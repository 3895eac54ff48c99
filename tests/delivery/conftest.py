import pytest

from tests.fake_esp import FakeESP


@pytest.fixture
def fake_esp():
    """A local ESP HTTP API on 127.0.0.1 (point a backend's api_url at ``fake_esp.url``)."""
    with FakeESP() as esp:
        yield esp
