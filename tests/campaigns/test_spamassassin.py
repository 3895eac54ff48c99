"""A rendered newsletter must not look like spam to SpamAssassin's local rules.

Debian's ``spamassassin`` with ``-L`` (local tests only: no DNS blocklists, no
Razor/Pyzor, nothing on the network); ``make test`` installs it.
"""

import re
import shutil
import subprocess

import pytest
from django.core.mail import EmailMultiAlternatives

from campaigns.rendering import personalize, render
from tests.campaigns.samples import layout_source, make_input

SPAMASSASSIN = "/usr/bin/spamassassin"
MAX_SCORE = 1.0


def spam_score(raw: bytes) -> tuple[float, str]:
    if not shutil.which(SPAMASSASSIN):
        pytest.fail(f"{SPAMASSASSIN} is missing: apt-get install spamassassin (make test does).")
    report = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, check=True, timeout=120
    ).stdout.decode(errors="replace")
    score = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.MULTILINE)
    assert score, report
    return float(score.group(1)), report


@pytest.mark.parametrize("layout", ["Announcement", "Release notes", "Digest"])
def test_a_rendered_newsletter_scores_under_one(layout, reader):
    message = personalize(render(make_input(layout=layout_source(layout))), reader)
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email="Demo Project <news@demo.example.org>",
        to=["Ada <ada@example.org>"],
        headers={
            "List-Unsubscribe": f"<{reader.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    mail.attach_alternative(message.html, "text/html")
    score, report = spam_score(mail.message().as_bytes())
    assert score < MAX_SCORE, report


def test_the_check_can_fail(reader):
    """The same check flags an obviously spammy message, so a pass above means something."""
    mail = EmailMultiAlternatives(
        subject="FREE MONEY!!! ACT NOW $$$ 100% GUARANTEED",
        body="CLICK HERE to claim your FREE prize!!! Viagra cheap, no prescription. "
        "Earn $5000 a week from home. 100% free, risk free, act now!!!",
        from_email="winner@example.org",
        to=["ada@example.org"],
    )
    mail.attach_alternative(
        '<p style="color:#ffffff;background:#ffffff">hidden</p><font size="7">FREE MONEY</font>',
        "text/html",
    )
    score, _ = spam_score(mail.message().as_bytes())
    assert score >= MAX_SCORE
