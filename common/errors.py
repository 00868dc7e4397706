"""The error tree every part raises and the API renders as ``{error, details, code}``. Pure."""

from __future__ import annotations


class CorralError(Exception):
    """Base: ``code`` is the HTTP status the API answers with."""

    code = 500
    title = "Internal error."

    def __init__(self, details: str = "", *, title: str | None = None) -> None:
        super().__init__(details or self.title)
        self.details = details
        if title is not None:
            self.title = title


class InvalidRequest(CorralError):
    code = 400
    title = "Invalid request parameters."


class Unauthorized(CorralError):
    code = 401
    title = "API key required"


class Forbidden(CorralError):
    code = 403
    title = "Insufficient permissions"


class NotFound(CorralError):
    code = 404
    title = "Job not found."


class Conflict(CorralError):
    code = 409
    title = "Conflict."


class PayloadTooLarge(CorralError):
    code = 413
    title = "Request body too large."


class StoreUnavailable(CorralError):
    code = 503
    title = "Store unavailable."


class BrokerUnavailable(CorralError):
    code = 503
    title = "Message broker unavailable."
