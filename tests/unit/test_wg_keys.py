from __future__ import annotations

import base64

import pytest

from durantic_agent.wg.keys import b64_to_hex, generate_private_key, hex_to_b64, is_valid_key, public_key

# RFC 7748 section 6.1 test vector (Alice)
ALICE_PRIV = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUB = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def test_public_key_matches_rfc7748_vector() -> None:
    assert public_key(base64.b64encode(ALICE_PRIV).decode()) == base64.b64encode(ALICE_PUB).decode()


def test_generated_keys_are_distinct_valid_32_byte_keys() -> None:
    a, b = generate_private_key(), generate_private_key()
    assert a != b
    assert len(base64.b64decode(a)) == 32 and is_valid_key(public_key(a))


def test_hex_round_trip() -> None:
    key = base64.b64encode(ALICE_PUB).decode()
    assert b64_to_hex(key) == ALICE_PUB.hex()
    assert hex_to_b64(ALICE_PUB.hex()) == key


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_keys_are_refused(bad: str) -> None:
    assert not is_valid_key(bad)
    with pytest.raises(ValueError, match="WireGuard key"):
        b64_to_hex(bad)
    with pytest.raises(ValueError, match="hex WireGuard key"):
        hex_to_b64("abcd")
