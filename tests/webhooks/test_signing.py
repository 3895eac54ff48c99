from webhooks import signing

SECRET = "whsec_test"
BODY = b'{"type":"ping"}'


def test_a_signature_verifies_with_the_same_secret_and_body():
    header = signing.sign(secret=SECRET, body=BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert signing.verify(secret=SECRET, body=BODY, header=header, now=1_700_000_010)


def test_another_secret_a_changed_body_or_an_old_timestamp_fail():
    header = signing.sign(secret=SECRET, body=BODY, timestamp=1_700_000_000)
    assert not signing.verify(secret="whsec_other", body=BODY, header=header, now=1_700_000_000)
    assert not signing.verify(secret=SECRET, body=BODY + b" ", header=header, now=1_700_000_000)
    assert not signing.verify(secret=SECRET, body=BODY, header=header, now=1_700_000_301)


def test_a_malformed_header_fails_without_raising():
    for header in ("", "v1=abc", "t=soon,v1=abc", "garbage"):
        assert not signing.verify(secret=SECRET, body=BODY, header=header)


def test_the_documented_receiver_snippet_verifies_a_crier_signature():
    """docs/webhooks.md shows this code to receivers: it must agree with ``sign``."""
    import hashlib
    import hmac
    import time

    def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        if abs(time.time() - timestamp) > tolerance:
            return False
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, fields["v1"])

    assert verify(SECRET, BODY, signing.sign(secret=SECRET, body=BODY))
    assert not verify(SECRET, BODY + b"!", signing.sign(secret=SECRET, body=BODY))
