"""The API's error body, ``{error, details, code}``, raised as typed exceptions. Pure."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer from the corral API; subclasses by status code."""

    code = 0

    def __init__(self, code: int, error: str, details: str) -> None:
        super().__init__(f"{code} {error}: {details}")
        self.code, self.error, self.details = code, error, details


class BadRequest(ApiError):
    code = 400


class Unauthorized(ApiError):
    code = 401


class Forbidden(ApiError):
    code = 403


class NotFound(ApiError):
    code = 404


class Conflict(ApiError):
    code = 409


class PayloadTooLarge(ApiError):
    code = 413


class KeyReused(ApiError):
    """An Idempotency-Key sent again with another body."""

    code = 422


class Unavailable(ApiError):
    """Redis or NATS is unreachable: worth retrying."""

    code = 503


class ServerError(ApiError):
    code = 500


_BY_CODE: dict[int, type[ApiError]] = {
    kind.code: kind
    for kind in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        KeyReused,
        Unavailable,
        ServerError,
    )
}


def error_for(code: int, error: str, details: str) -> ApiError:
    """The exception for an error answer: the class of its code, or ApiError."""
    return _BY_CODE.get(code, ApiError)(code, error, details)
