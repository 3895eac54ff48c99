import pytest

from tracking.agents import classify

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0", "apple_proxy"),
        ("", "scanner"),
        ("python-requests/2.31", "scanner"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "scanner"),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
            "(via ggpht.com GoogleImageProxy)",
            "image_proxy",
        ),
        (IPHONE, "mobile"),
        (THUNDERBIRD, "desktop"),
        ("SomethingNew/1.0", "unknown"),
    ],
)
def test_user_agents_are_reduced_to_a_class(agent, expected):
    assert classify(agent) == expected
