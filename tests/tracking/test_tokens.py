from tracking import tokens


def test_a_token_reads_back_what_was_signed():
    token = tokens.sign(tokens.CLICK, 12, 3, 456)
    assert tokens.read(tokens.CLICK, token) == tokens.Claim(tokens.CLICK, 12, 3, 456)


def test_a_changed_digit_or_mac_is_refused():
    token = tokens.sign(tokens.CLICK, 12, 3, 456)
    payload, mac = token.rsplit(".", 1)
    assert tokens.read(tokens.CLICK, token.replace(".3.", ".4.")) is None
    assert tokens.read(tokens.CLICK, token.replace("12.", "13.", 1)) is None
    assert tokens.read(tokens.CLICK, f"{payload}.{mac[:-1]}A") is None
    assert tokens.read(tokens.CLICK, f"{payload}.") is None
    assert tokens.read(tokens.CLICK, "garbage") is None
    assert tokens.read(tokens.CLICK, "1.2.3.4.5") is None


def test_a_token_is_good_for_its_own_purpose_only():
    token = tokens.sign(tokens.OPEN, 12)
    assert tokens.read(tokens.OPEN, token) is not None
    assert tokens.read(tokens.CLICK, token) is None
    assert tokens.read(tokens.SCANNER, token) is None


def test_another_secret_key_breaks_every_token(settings):
    token = tokens.sign(tokens.OPEN, 12)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert tokens.read(tokens.OPEN, token) is None
