"""Tencent's callback crypto (WXBizMsgCrypt), shared by WeChat Official Accounts and WeCom.

Signatures are SHA-1 over the sorted parameters; messages are AES-256-CBC with the key
decoded from the 43-character EncodingAESKey, the IV its first 16 bytes, PKCS#7 padding to
32-byte blocks, and the plaintext framed as ``random(16) | len(4, big-endian) | msg |
receive_id``. Built on ``cryptography`` (wechatpy is unmaintained) and checked against the
vectors published with Tencent's sample code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.core.errors import AppError, Forbidden

BLOCK = 32  # Tencent pads to 32 bytes, not AES's 16: other PKCS#7 unpadders reject it
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class InvalidSignature(Forbidden):
    code = "invalid_signature"


class InvalidReceiver(Forbidden):
    code = "invalid_receiver"


class InvalidCiphertext(AppError):
    status_code = 400
    code = "invalid_ciphertext"


def sha1_signature(*parts: str) -> str:
    """SHA-1 of the parts sorted and joined: the plain-mode ``signature`` uses (token,
    timestamp, nonce); ``msg_signature`` adds the ciphertext."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise InvalidSignature("signature does not match")


def decode_aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class MsgCrypt:
    """One account's crypto: ``receive_id`` is the app id (OA) or corp id (WeCom)."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.receive_id = receive_id
        self._key = decode_aes_key(encoding_aes_key)

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypted)

    def verify(self, msg_signature: str | None, timestamp: str, nonce: str, encrypted: str) -> None:
        check_signature(self.signature(timestamp, nonce, encrypted), msg_signature)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, text: str, *, random_prefix: str | None = None) -> str:
        """Base64 ciphertext; ``random_prefix`` (16 chars) only to reproduce published vectors."""
        prefix = (random_prefix or "".join(secrets.choice(_ALPHABET) for _ in range(16))).encode()
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        body = text.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside, after checking its framing and that it is addressed to us."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCiphertext("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise InvalidCiphertext("ciphertext length is not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        plain = dec.update(raw) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
            raise InvalidCiphertext("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise InvalidCiphertext("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise InvalidCiphertext("declared length exceeds the plaintext")
        body, receiver = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receiver, self.receive_id.encode()):
            raise InvalidReceiver("message is addressed to another app or corp")
        try:
            return body.decode()
        except UnicodeDecodeError as exc:
            raise InvalidCiphertext("plaintext is not UTF-8") from exc

    def open(self, msg_signature: str | None, timestamp: str, nonce: str, encrypted: str) -> str:
        """Verify the signature first (cheap, and nothing is decrypted for a forger), then
        decrypt."""
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def seal(self, text: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """(ciphertext, msg_signature) for a passive reply."""
        encrypted = self.encrypt(text)
        return encrypted, self.signature(timestamp, nonce, encrypted)
