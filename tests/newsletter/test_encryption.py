"""Secrets at rest: authenticated encryption under rotatable keys."""

import pytest

from newsletter import encryption


def test_a_secret_round_trips_and_is_not_readable_in_its_token(settings):
    settings.ENCRYPTION_KEYS = ["a-long-random-key-material-0001"]
    token = encryption.encrypt("hunter2-smtp-password")
    assert "hunter2" not in token
    assert encryption.encrypt("hunter2-smtp-password") != token  # a fresh IV each time
    assert encryption.decrypt(token) == "hunter2-smtp-password"


def test_without_keys_the_secret_key_is_used_and_changing_it_loses_the_secrets(settings):
    settings.ENCRYPTION_KEYS = []
    token = encryption.encrypt("api-key")
    assert encryption.decrypt(token) == "api-key"
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(encryption.DecryptionError, match="CRIER_ENCRYPTION_KEYS"):
        encryption.decrypt(token)


def test_an_old_key_still_decrypts_and_rotation_moves_to_the_new_one(settings):
    settings.ENCRYPTION_KEYS = ["old-key"]
    token = encryption.encrypt("api-key")
    settings.ENCRYPTION_KEYS = ["new-key", "old-key"]
    assert encryption.decrypt(token) == "api-key"
    rotated = encryption.rotate(token)
    settings.ENCRYPTION_KEYS = ["new-key"]
    assert encryption.decrypt(rotated) == "api-key"
    with pytest.raises(encryption.DecryptionError):
        encryption.decrypt(token)


@pytest.mark.parametrize("damage", ["flip", "truncate", "not-ascii"])
def test_a_tampered_token_is_refused_with_a_clear_error(settings, damage):
    settings.ENCRYPTION_KEYS = ["key"]
    token = encryption.encrypt("api-key")
    if damage == "flip":
        middle = len(token) // 2
        token = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    elif damage == "truncate":
        token = token[:-10]
    else:
        token = token + "é"
    with pytest.raises(encryption.DecryptionError, match="cannot be decrypted"):
        encryption.decrypt(token)
