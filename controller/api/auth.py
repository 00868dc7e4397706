"""Bearer API keys with scopes. Pure apart from reading the request header.

Only SHA-256 digests of keys are configured; a presented key is hashed and
compared with every configured digest in constant time, so neither the
digest table nor the timing tells an attacker how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from starlette.requests import Request

from common.config import ApiKey
from common.errors import Forbidden, Unauthorized
from controller.api.audit import note


class Authenticator:
    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = [(bytes.fromhex(k.sha256), k) for k in keys]

    def identify(self, presented: str) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found: ApiKey | None = None
        for expected, key in self._keys:
            if hmac.compare_digest(digest, expected):
                found = key
        return found

    def require(self, request: Request, scope: str) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            note(request, details="no API key")
            raise Unauthorized("send 'Authorization: Bearer <api key>'")
        key = self.identify(token.strip())
        if key is None:
            note(request, details="an API key that is not valid")
            raise Unauthorized("the API key is not valid")
        note(request, key=key.name)
        if scope not in key.scopes and "admin" not in key.scopes:
            note(request, details=f"lacks the {scope} scope")
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return key
