"""Domain errors carry their HTTP status, so every edge renders them the same way."""

from __future__ import annotations


class AppError(Exception):
    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    """A rule of the domain forbids this now (an illegal status transition, a duplicate)."""

    status_code = 409


class Invalid(AppError):
    status_code = 422


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class TooMany(AppError):
    """Over a rate limit or a quota: answered 429 with a Retry-After, in whole seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))
