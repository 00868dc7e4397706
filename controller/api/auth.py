"""Bearer API keys with scopes. Pure apart from reading the request header.

Only SHA-256 digests of keys are configured; a presented key is hashed and
compared with every configured digest in constant time, so neither the
digest table nor the timing tells an attacker how close a guess was.

Routes need the API's own scopes (``job:read``, ``agent:read``, ...);
submitting a job needs its operation's scope, ``<family>:read`` or
``<family>:write`` (common/operations/declaration.py). What a key holds
grants more than its list in three ways (docs/security.md):

- ``admin`` grants every scope;
- ``<family>:write`` grants ``<family>:read`` for an operation family;
- ``job:write`` grants :data:`JOB_WRITE_GRANTS`, the scopes of the
  operations it ran before operations had scopes, so existing keys keep
  doing exactly what they did and no more when families are added.

The web console's session cookie (controller/console/sessions.py) stands in
for the header on the console's own paths and the job event stream only:
EventSource cannot send headers, and no other route takes a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from starlette.requests import Request

from common.config import API_SCOPES, ApiKey
from common.errors import Forbidden, InvalidRequest, Unauthorized
from common.operations.catalog import spec_for
from common.operations.declaration import OperationError
from controller.api.audit import note

# test.ping/echo/sleep/fail/counter, node.*.get and command.exec.
JOB_WRITE_GRANTS = frozenset({"test:read", "test:write", "node:read", "command:write"})
# Where the console's session leaves the key its cookie stands for, and the paths that take it.
SESSION_KEY = "corral.console_session"
SESSION_PATHS = re.compile(r"/ui(?:/.*)?|/job/[^/]+/events")


def grants(held: frozenset[str], needed: str) -> bool:
    """Whether a key holding ``held`` may do what needs ``needed``."""
    if needed in held or "admin" in held:
        return True
    if needed in API_SCOPES:
        return False
    family, _, access = needed.partition(":")
    if access == "read" and f"{family}:write" in held:
        return True
    return "job:write" in held and needed in JOB_WRITE_GRANTS


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

    def authenticate(self, request: Request) -> ApiKey:
        """The caller's key, or 401."""
        header = request.headers.get("authorization", "")
        if not header and (session := session_key(request)) is not None:
            note(request, key=session.name)
            return session
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send 'Authorization: Bearer <api key>'")
        key = self.identify(token.strip())
        if key is None:
            raise Unauthorized("the API key is not valid")
        note(request, key=key.name)
        return key

    def require(self, request: Request, scope: str) -> ApiKey:
        """The caller's key once it proved it holds ``scope``; 401 or 403."""
        key = self.authenticate(request)
        check_scope(key, scope)
        return key


def session_key(request: Request) -> ApiKey | None:
    """The key of the request's console session, on the paths that take one."""
    if SESSION_PATHS.fullmatch(request.url.path) is None:
        return None
    found = request.scope.get(SESSION_KEY)
    return found if isinstance(found, ApiKey) else None


def check_scope(key: ApiKey, scope: str, needed_by: str = "") -> None:
    """403 naming the missing scope (and the operation that needs it)."""
    if not grants(key.scopes, scope):
        why = f", which {needed_by} needs" if needed_by else ""
        raise Forbidden(f"this API key lacks the {scope!r} scope{why}")


def check_operation(key: ApiKey, op_type: str) -> None:
    """403 unless the key may run ``op_type``; 400 if no operation has that name
    (a retried job's, once its plugin is uninstalled)."""
    try:
        scope = spec_for(op_type).scope
    except OperationError as exc:
        raise InvalidRequest(str(exc)) from None
    check_scope(key, scope, op_type)
