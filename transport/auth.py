"""The shared token that both ends of a call must know, and the proofs built from it.

The token never crosses the wire: each side proves it knows the token with an HMAC over fresh
nonces from both sides, and signs its session description with it, so that a machine in the
middle of the signaling connection can neither join the call nor swap the DTLS fingerprints.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from enum import Enum

TOKEN_ENV = "FACECODEC_TOKEN"
"""Environment variable read when no token is given on the command line."""

MIN_TOKEN_CHARS = 8
"""Shorter tokens are refused: the proofs can be attacked offline by anyone who records them."""

NONCE_BYTES = 16


class Proof(Enum):
    """What a MAC vouches for; the label keeps one proof from being replayed as another."""

    DIALER = b"facecodec dialer"
    LISTENER = b"facecodec listener"
    OFFER = b"facecodec offer"
    ANSWER = b"facecodec answer"


def resolve_token(flag: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The token from the command-line flag, else from ``FACECODEC_TOKEN``.

    Raises ValueError, with what to do, when neither gives a usable token.
    """
    token = flag if flag is not None else environ.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(f"no token: pass --token or set {TOKEN_ENV} (the same on both ends)")
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"token too short: use at least {MIN_TOKEN_CHARS} characters")
    return token


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def sign(token: str, proof: Proof, *parts: bytes) -> str:
    """Hex HMAC-SHA256 over the label and the length-prefixed parts."""
    mac = hmac.new(token.encode("utf-8"), proof.value, hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(4, "big"))
        mac.update(part)
    return mac.hexdigest()


def verify(expected: str, received: object) -> bool:
    """Constant-time comparison; anything that is not a string fails."""
    return isinstance(received, str) and hmac.compare_digest(
        expected.encode("ascii"), received.encode("utf-8")
    )
