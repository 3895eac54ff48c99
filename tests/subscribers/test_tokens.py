import time

import pytest

from subscribers import tokens

CLAIM = tokens.Claim(subscriber_id=7, newsletter_id=3)


def test_each_purpose_reads_back_its_own_claim():
    assert tokens.read_confirm_token(tokens.confirm_token(CLAIM)) == CLAIM
    assert tokens.read_preferences_token(tokens.preferences_token(CLAIM)) == CLAIM
    assert tokens.read_unsubscribe_token(tokens.unsubscribe_token(CLAIM)) == CLAIM


def test_a_token_for_one_purpose_is_useless_for_another():
    with pytest.raises(tokens.InvalidToken):
        tokens.read_preferences_token(tokens.unsubscribe_token(CLAIM))
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe_token(tokens.confirm_token(CLAIM))


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-2], lambda t: "x" + t, lambda t: t.upper(), lambda t: "not-a-token"]
)
def test_tampered_tokens_are_invalid(tamper):
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe_token(tamper(tokens.unsubscribe_token(CLAIM)))


def test_confirmation_links_expire_after_seven_days_but_still_say_whose(monkeypatch):
    eight_days_ago = time.time() - 8 * 24 * 3600
    monkeypatch.setattr(time, "time", lambda: eight_days_ago)
    token = tokens.confirm_token(CLAIM)
    monkeypatch.undo()
    with pytest.raises(tokens.ExpiredToken) as expired:
        tokens.read_confirm_token(token)
    assert expired.value.claim == CLAIM


def test_unsubscribe_and_preference_links_never_expire(monkeypatch):
    five_years_ago = time.time() - 5 * 365 * 24 * 3600
    monkeypatch.setattr(time, "time", lambda: five_years_ago)
    unsubscribe, preferences = tokens.unsubscribe_token(CLAIM), tokens.preferences_token(CLAIM)
    monkeypatch.undo()
    assert tokens.read_unsubscribe_token(unsubscribe) == CLAIM
    assert tokens.read_preferences_token(preferences) == CLAIM


def test_a_data_link_works_for_an_hour_and_for_nothing_else(monkeypatch):
    token = tokens.data_token(CLAIM)
    assert tokens.read_data_token(token) == CLAIM
    with pytest.raises(tokens.InvalidToken):
        tokens.read_preferences_token(token)
    with pytest.raises(tokens.InvalidToken):
        tokens.read_data_token(tokens.preferences_token(CLAIM))
    ninety_minutes_ago = time.time() - 90 * 60
    monkeypatch.setattr(time, "time", lambda: ninety_minutes_ago)
    old = tokens.data_token(CLAIM)
    monkeypatch.undo()
    with pytest.raises(tokens.ExpiredToken):
        tokens.read_data_token(old)


def test_a_confirmation_link_carries_the_name_typed_and_reads_back_without_one():
    named = tokens.Claim(7, 3, name="Ada L.")
    assert tokens.read_confirm_token(tokens.confirm_token(named)) == named
    assert tokens.read_confirm_token(tokens.confirm_token(CLAIM)).name == ""
    # Only confirmation links carry a name: the data link never does.
    assert tokens.read_data_token(tokens.data_token(named)).name == ""
