from tracking import tokens


def personal(kind: str, campaign: int, link: int, delivery: int) -> str:
    return tokens.sign(kind, campaign, link) + tokens.reader(campaign, delivery)


def test_a_token_reads_back_what_was_signed():
    assert tokens.read(tokens.CLICK, tokens.sign(tokens.CLICK, 12, 3)) == tokens.Claim(
        tokens.CLICK, 12, 3, 0
    )
    assert tokens.read(tokens.CLICK, personal(tokens.CLICK, 12, 3, 456)) == tokens.Claim(
        tokens.CLICK, 12, 3, 456
    )


def test_a_changed_digit_or_mac_is_refused():
    token = personal(tokens.CLICK, 12, 3, 456)
    campaign, link, mac, delivery, reader_mac = token.split(".")
    for tampered in (
        f"{campaign}.4.{mac}.{delivery}.{reader_mac}",
        f"13.{link}.{mac}.{delivery}.{reader_mac}",
        f"{campaign}.{link}.{mac}.457.{reader_mac}",
        f"{campaign}.{link}.{mac[:-1]}A.{delivery}.{reader_mac}",
        f"{campaign}.{link}.{mac}.{delivery}.{reader_mac[:-1]}A",
        f"{campaign}.{link}.{mac}.{delivery}",
        f"{campaign}.{link}.",
        "garbage",
        "1.2.3.4.5.6",
    ):
        assert tokens.read(tokens.CLICK, tampered) is None, tampered


def test_a_reader_part_belongs_to_one_campaign():
    other_reader = tokens.reader(13, 456)
    assert tokens.read(tokens.CLICK, tokens.sign(tokens.CLICK, 12, 3) + other_reader) is None


def test_a_token_is_good_for_its_own_purpose_only():
    token = tokens.sign(tokens.OPEN, 12)
    assert tokens.read(tokens.OPEN, token) is not None
    assert tokens.read(tokens.CLICK, token) is None
    assert tokens.read(tokens.SCANNER, token) is None


def test_another_secret_key_breaks_every_token(settings):
    token = tokens.sign(tokens.OPEN, 12)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert tokens.read(tokens.OPEN, token) is None
