"""Who may use the object store: the platform's access keys, and the short-lived
credentials the platform hands each function (STS-style: key id, secret, security token).

Temporary credentials are stateless: the security token carries the key id, the scope
and the expiry, sealed with an HMAC of the platform's secret, and the secret is derived
from the same secret and the key id. Any process that shares the platform's secret can
check them; nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

TEMPORARY_PREFIX = "STS."


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expiration: float  # seconds since the epoch

    def expiration_iso(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expiration))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StorageKeys:
    """The secrets requests may be signed with.

    ``open`` (no access keys configured, the platform on loopback) accepts any key, as
    the FC API accepts unsigned requests there; front doors then skip verification.
    """

    def __init__(self, access_keys: dict[str, str], platform_secret: bytes) -> None:
        self._keys = dict(access_keys)
        self._seal = hashlib.sha256(b"fcompute storage credentials\0" + platform_secret).digest()

    @property
    def open(self) -> bool:
        return not self._keys

    def issue(self, scope: str, ttl_s: float) -> TemporaryCredentials:
        """New credentials for ``scope`` (e.g. a service name), valid for ``ttl_s``."""
        key_id = TEMPORARY_PREFIX + secrets.token_hex(12)
        expiration = float(int(time.time() + ttl_s))
        payload = _b64(json.dumps({"k": key_id, "s": scope, "e": expiration},
                                  separators=(",", ":")).encode())
        token = f"{payload}.{_b64(hmac.new(self._seal, payload.encode(), 'sha256').digest())}"
        return TemporaryCredentials(key_id, self._secret_of(key_id), token, expiration)

    def _secret_of(self, key_id: str) -> str:
        return _b64(hmac.new(self._seal, b"secret\0" + key_id.encode(), "sha256").digest())

    def secret(self, access_key_id: str, security_token: str = "") -> str | None:
        """The secret to check a signature with, or None when the key is not valid now."""
        if not access_key_id.startswith(TEMPORARY_PREFIX):
            return self._keys.get(access_key_id)
        if self._claims(access_key_id, security_token) is None:
            return None
        return self._secret_of(access_key_id)

    def scope(self, access_key_id: str, security_token: str = "") -> str:
        """Whom temporary credentials were issued to ("" for the platform's own keys or
        credentials not valid now): lets the store tell a function's own writes apart."""
        claims = self._claims(access_key_id, security_token)
        return "" if claims is None else str(claims.get("s", ""))

    def _claims(self, access_key_id: str, security_token: str) -> dict[str, object] | None:
        if not access_key_id.startswith(TEMPORARY_PREFIX):
            return None
        payload, _, seal = security_token.partition(".")
        expected = _b64(hmac.new(self._seal, payload.encode(), "sha256").digest())
        if not payload or not hmac.compare_digest(seal, expected):
            return None
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("k") != access_key_id:
            return None
        if float(claims.get("e", 0)) < time.time():
            return None
        return claims
