"""Personal data: validation, encryption at rest, keyed look-up hashes and masking."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cityhub.platform.config import Settings

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# What a stray personal number looks like inside free text (logs, error details).
_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{3})\d{11}(\d{3}[\dXx])(?![\dXx])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def id_check_digit(first17: str) -> str:
    """The GB 11643 (ISO 7064 MOD 11-2) check character of a mainland identity number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(value: str) -> str:
    """A valid 18-character mainland identity number, or ValueError saying what is wrong."""
    number = value.strip().upper()
    if not _ID_RE.match(number):
        raise ValueError("an identity number has 17 digits and a check digit or X")
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError("the identity number's birth date is not a real date") from None
    if id_check_digit(number[:17]) != number[17]:
        raise ValueError("the identity number's check digit does not match")
    return number


def normalize_phone(value: str) -> str:
    """A mainland mobile number of 11 digits (an optional +86 is dropped), or ValueError."""
    number = re.sub(r"[\s-]", "", value)
    number = number.removeprefix("+86").removeprefix("0086")
    if not _PHONE_RE.match(number):
        raise ValueError("a mobile number has 11 digits and starts with 13 to 19")
    return number


def mask_id_number(number: str) -> str:
    """`310***********1234`: the region and the last four only."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_phone(number: str) -> str:
    """`138****5678`."""
    return number[:3] + "****" + number[-4:]


def mask_name(name: str) -> str:
    """The family name and a star per other character: `张*`, `王**`."""
    return name[:1] + "*" * max(len(name) - 1, 1)


_ID_CANDIDATE = re.compile(r"(?<![\dXx])\d{17}[\dXx](?![\dXx])")
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-.]+(?=\d)")


def personal_number_in(text: str) -> str | None:
    """`"phone"` or `"identity number"` if the text holds a full mainland mobile number or a
    valid identity number (also written in groups: `138 1234 5678`), else None. Masked ones
    (`138****5678`) are not full numbers."""
    spaced = text.replace("+86", " ").replace("\uff0b86", " ")
    # as written, and with the gaps inside digit groups closed (which may join neighbours)
    for form in (spaced, _BETWEEN_DIGITS.sub("", spaced)):
        for candidate in _ID_CANDIDATE.findall(form):
            try:
                normalize_id_number(candidate)
            except ValueError:
                continue
            return "identity number"
        if _PHONE_IN_TEXT.search(form):
            return "phone"
    return None


def scrub(text: str) -> str:
    """The text with any identity or phone number in it masked (for logs and messages)."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)
    return _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)


@dataclass(frozen=True)
class Vault:
    """Encrypts personal fields (AES-256-GCM) and derives their keyed look-up hashes."""

    data_key: bytes
    hash_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault of the configured keys."""
        try:
            key = base64.b64decode(settings.data_key, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError("CITYHUB_DATA_KEY must be base64 of exactly 32 bytes")
        return cls(data_key=key, hash_key=settings.hash_key.encode())

    def encrypt(self, plaintext: str) -> bytes:
        """Nonce and ciphertext of the text."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self.data_key).encrypt(nonce, plaintext.encode(), None)

    def decrypt(self, blob: bytes) -> str:
        """The text back from `encrypt`."""
        return AESGCM(self.data_key).decrypt(blob[:12], blob[12:], None).decode()

    def lookup_hash(self, kind: str, value: str) -> str:
        """A keyed hash to find a record by a personal value without storing it in clear."""
        return hmac.new(self.hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
