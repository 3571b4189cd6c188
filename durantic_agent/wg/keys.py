"""WireGuard keys: X25519, base64 as users and `wg` write them, hex as the UAPI speaks them."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = ["b64_to_hex", "generate_private_key", "hex_to_b64", "is_valid_key", "public_key"]

KEY_LEN = 32


def _raw(key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(key_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{key_b64!r} is not a base64 WireGuard key") from exc
    if len(raw) != KEY_LEN:
        raise ValueError(f"{key_b64!r} is not a base64 WireGuard key (decodes to {len(raw)} bytes, not 32)")
    return raw


def generate_private_key() -> str:
    raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode("ascii")


def public_key(private_b64: str) -> str:
    priv = X25519PrivateKey.from_private_bytes(_raw(private_b64))
    return base64.b64encode(priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def is_valid_key(key_b64: str) -> bool:
    try:
        _raw(key_b64)
    except ValueError:
        return False
    return True


def b64_to_hex(key_b64: str) -> str:
    return _raw(key_b64).hex()


def hex_to_b64(key_hex: str) -> str:
    try:
        raw = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise ValueError(f"{key_hex!r} is not a hex WireGuard key") from exc
    if len(raw) != KEY_LEN:
        raise ValueError(f"{key_hex!r} is not a hex WireGuard key (decodes to {len(raw)} bytes, not 32)")
    return base64.b64encode(raw).decode("ascii")
