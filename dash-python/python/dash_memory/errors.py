"""The exceptions of dash_memory: one class per kind of DASH error, all under :class:`DashError`.

The message is DASH's own, kept whole; ``kind`` is the stable name of the kind (the same
vocabulary as ``dash_core::ErrorKind``).
"""

__all__ = [
    "DashError",
    "InvalidInputError",
    "CommitConflictError",
    "NotFoundError",
    "TooLargeError",
    "ConfigError",
    "StoreLockedError",
    "CorruptionError",
    "StoreUnavailableError",
    "IndexUnavailableError",
    "AuthenticationError",
    "PermissionDeniedError",
    "OverloadedError",
]


class DashError(Exception):
    """Any error DASH reports. Raised by the HTTP client, it also carries the answer's
    ``status``, stable ``code`` and ``retry_after`` (seconds, or None)."""

    kind = "dash"
    status: "int | None" = None
    code: "str | None" = None
    retry_after: "int | None" = None


class InvalidInputError(DashError, ValueError):
    """The input was refused (a bad item, query or setting); nothing was written."""

    kind = "invalid"


class CommitConflictError(DashError):
    """A ``commit_id`` was used before with other content; nothing was written."""

    kind = "commit_conflict"


class NotFoundError(DashError, KeyError):
    """The claim does not exist, or is already forgotten."""

    kind = "not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TooLargeError(DashError):
    """The write is larger than one WAL record holds."""

    kind = "too_large"


class ConfigError(DashError):
    """A store setting is invalid or does not fit the store on disk."""

    kind = "config"


class StoreLockedError(DashError):
    """Another open store holds the directory (one owner at a time)."""

    kind = "locked"


class CorruptionError(DashError):
    """Stored data failed its checksum or did not decode; nothing was served from it."""

    kind = "corruption"


class StoreUnavailableError(DashError):
    """The store cannot serve the call: closed, or stopped by an I/O failure (reopen it)."""

    kind = "unavailable"


class IndexUnavailableError(DashError):
    """The retrieval indexes, the embedder or the detection stage cannot answer now."""

    kind = "index_unavailable"


# --- the HTTP client's own (dash_memory.http): what only a server answers --------------------


class AuthenticationError(DashError):
    """401: no or bad credentials, or a signed write that does not verify."""

    kind = "unauthorized"


class PermissionDeniedError(DashError):
    """403: the credentials do not reach this tenant or route."""

    kind = "forbidden"


class OverloadedError(DashError):
    """429: rate limited or the server's queue is full; ``retry_after`` says when to retry."""

    kind = "overloaded"
