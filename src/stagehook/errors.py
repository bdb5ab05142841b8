"""One exception hierarchy; the API maps each class to an HTTP problem."""

from __future__ import annotations


class StagehookError(Exception):
    """Base: ``code`` is the stable machine-readable name, ``status`` the HTTP status."""

    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(StagehookError):
    code = "invalid_input"
    status = 422


class InvalidWorkflow(InvalidInput):
    code = "invalid_workflow"


class IncompleteLabels(InvalidInput):
    """A submit whose labels lack what the ontology requires."""

    code = "labels_incomplete"


class TooLarge(StagehookError):
    code = "too_large"
    status = 413


class UnsupportedMedia(StagehookError):
    code = "unsupported_media_type"
    status = 415


class NotFound(StagehookError):
    code = "not_found"
    status = 404


class Conflict(StagehookError):
    code = "conflict"
    status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unauthorized(StagehookError):
    code = "unauthorized"
    status = 401


class Forbidden(StagehookError):
    code = "forbidden"
    status = 403


class TooManyRequests(StagehookError):
    """Throttled: ``retry_after`` seconds until another try can succeed."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(StagehookError):
    code = "unavailable"
    status = 503
