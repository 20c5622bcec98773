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
]


class DashError(Exception):
    """Any error DASH reports."""

    kind = "dash"


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
