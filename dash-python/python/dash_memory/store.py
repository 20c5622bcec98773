"""The embedded :class:`Store`."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import _native
from .errors import InvalidInputError
from .types import (
    BatchReceipt,
    ChangeEvent,
    CheckpointReport,
    ClaimRecord,
    ClaimVersion,
    ForgetReceipt,
    IngestItem,
    IngestReceipt,
    Instant,
    RetrieveResponse,
    _plain,
    format_instant,
    response_from_native,
)

__all__ = ["Store", "Item", "Subscription"]

#: An ingest item: a typed :class:`IngestItem`, or the HTTP contract's dict
#: (``{"claim": {...}, "evidence": [...], "edges": [...]}``).
Item = Union[IngestItem, Mapping[str, Any]]


def _item_dict(item: Item, what: str = "item") -> Dict[str, Any]:
    if isinstance(item, IngestItem):
        return item.to_dict()
    if isinstance(item, Mapping):
        # datetimes and numpy arrays inside a dict become what the contract takes
        return {k: _plain(k, v) for k, v in item.items()}
    raise InvalidInputError(f"{what}: expected an IngestItem or a dict, got {type(item).__name__}")


def _vector(value: Any, what: str) -> List[float]:
    if hasattr(value, "tolist"):  # numpy
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        raise InvalidInputError(f"{what}: expected a flat list or 1-d array of numbers")
    return [float(x) for x in value]


def _query_inputs(
    embedding: Optional[Sequence[float]],
    as_of: Optional[Instant],
    recorded_as_of: Optional[Instant],
    entities: Sequence[str],
    sources: Sequence[str],
    metadata: Optional[Mapping[str, str]],
) -> Dict[str, Any]:
    """The retrieve options that need checking or converting, as the store and the server
    both take them: a flat float list, RFC 3339 instants, lists and a dict."""
    if isinstance(entities, str) or isinstance(sources, str):
        raise InvalidInputError("entities and sources take a list of strings, not one string")
    return {
        "embedding": None if embedding is None else _vector(embedding, "embedding"),
        "as_of": None if as_of is None else format_instant(as_of, "as_of"),
        "recorded_as_of": None
        if recorded_as_of is None
        else format_instant(recorded_as_of, "recorded_as_of"),
        "entities": list(entities),
        "sources": list(sources),
        "metadata": dict(metadata or {}),
    }


class Store:
    """An open DASH store: claims, their evidence for and against, edges and time, in a
    directory (or in memory with ``path=None``). One process owns a directory at a time.

    Every call lets go of the GIL while the store works, so threads ingest and query in
    parallel. Use it as a context manager, or call :meth:`close`.

    Settings (each optional; DASH's defaults otherwise): ``durability`` ``"strict"`` (fsync
    before a write is acknowledged) or ``"batched"`` (with ``batch_max_records`` and
    ``batch_max_delay_ms``; a power cut may lose that window), ``allow_unsafe_durability``,
    ``recovery_mode`` (``"tolerate_torn_tail"``, ``"absolute_consistency"``,
    ``"truncate_at_corruption"``), ``embedding_dimension``, ``auto_checkpoint``,
    ``checkpoint_wal_bytes``, ``checkpoint_wal_records``, ``feed_retention_bytes`` (how much
    checkpointed WAL the change feed keeps as history; 128 MiB), ``max_segments``,
    ``dense_seal_threshold``, ``detection`` (contradiction detection in the background, on by
    default) and ``embedder_dir`` (the all-MiniLM-L6-v2 model folder, for claims and queries
    sent without a vector).
    """

    def __init__(
        self,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        *,
        durability: Optional[str] = None,
        batch_max_records: Optional[int] = None,
        batch_max_delay_ms: Optional[int] = None,
        allow_unsafe_durability: bool = False,
        recovery_mode: Optional[str] = None,
        embedding_dimension: Optional[int] = None,
        auto_checkpoint: Optional[bool] = None,
        checkpoint_wal_bytes: Optional[int] = None,
        checkpoint_wal_records: Optional[int] = None,
        feed_retention_bytes: Optional[int] = None,
        max_segments: Optional[int] = None,
        dense_seal_threshold: Optional[int] = None,
        detection: bool = True,
        embedder_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        self._store = _native.Store(
            os.fspath(path) if path is not None else None,
            durability=durability,
            batch_max_records=batch_max_records,
            batch_max_delay_ms=batch_max_delay_ms,
            allow_unsafe_durability=allow_unsafe_durability,
            recovery_mode=recovery_mode,
            embedding_dimension=embedding_dimension,
            auto_checkpoint=auto_checkpoint,
            checkpoint_wal_bytes=checkpoint_wal_bytes,
            checkpoint_wal_records=checkpoint_wal_records,
            feed_retention_bytes=feed_retention_bytes,
            max_segments=max_segments,
            dense_seal_threshold=dense_seal_threshold,
            detection=detection,
            embedder_dir=os.fspath(embedder_dir) if embedder_dir is not None else None,
        )

    # --- writes ------------------------------------------------------------------------

    def ingest(self, item: Item) -> IngestReceipt:
        """Writes one claim version with its evidence and edges; durable when it returns
        (``strict``). Visible to :meth:`retrieve` at once."""
        return IngestReceipt.from_dict(self._store.ingest(_item_dict(item)))

    def ingest_batch(self, commit_id: str, items: Iterable[Item]) -> BatchReceipt:
        """Writes ``items`` (one tenant) atomically. ``commit_id`` is an idempotency key: the
        same batch again is ``replayed``; other content under it raises
        :class:`~dash_memory.errors.CommitConflictError`."""
        dicts = [_item_dict(it, f"items[{i}]") for i, it in enumerate(items)]
        return BatchReceipt.from_dict(self._store.ingest_batch(commit_id, dicts))

    def forget(self, tenant_id: str, claim_id: str) -> ForgetReceipt:
        """Forgets a claim (a tombstone version): its text leaves retrieval at once and is
        dropped from disk by a later merge. Raises
        :class:`~dash_memory.errors.NotFoundError` for an unknown or forgotten claim."""
        return ForgetReceipt.from_dict(self._store.forget(tenant_id, claim_id))

    # --- reads -------------------------------------------------------------------------

    def get_claim(self, tenant_id: str, claim_id: str) -> Optional[ClaimRecord]:
        """The claim's current version with evidence, edges and history; ``None`` when it
        does not exist or is forgotten."""
        found = self._store.get_claim(tenant_id, claim_id)
        return None if found is None else ClaimRecord.from_dict(found)

    def versions(self, tenant_id: str, claim_id: str) -> List[ClaimVersion]:
        """Every kept version of the claim, oldest first (a forget's tombstone included)."""
        return [ClaimVersion.from_dict(v) for v in self._store.versions(tenant_id, claim_id)]

    def subscribe(self, tenant_id: str, *, from_lsn: Union[int, str, None] = None,
                  after: Optional[str] = None) -> "Subscription":
        """The tenant's change feed: new claim versions, forgets and detected conflicts and
        supersessions in commit order, from ``after`` (a cursor, exclusive), else ``from_lsn``
        (an LSN, inclusive, or ``"oldest"``), else from now on. Raises
        :class:`~dash_memory.NotFoundError` when that history is no longer held."""
        return Subscription(self._store.subscribe(tenant_id, from_lsn, after))

    def retrieve(
        self,
        tenant_id: str,
        query: Optional[str] = None,
        *,
        embedding: Optional[Sequence[float]] = None,
        top_k: Optional[int] = None,
        stance_mode: Optional[str] = None,
        as_of: Optional[Instant] = None,
        recorded_as_of: Optional[Instant] = None,
        entities: Sequence[str] = (),
        sources: Sequence[str] = (),
        metadata: Optional[Mapping[str, str]] = None,
        graph_depth: Optional[int] = None,
        explain: bool = False,
        wait_for_detection_ms: Optional[int] = None,
        ranking: Optional[str] = None,
    ) -> RetrieveResponse:
        """The claims of ``tenant_id`` that answer ``query`` (text) and/or ``embedding`` (a
        list or a numpy array), ranked by relevance and evidence, each with its supporting and
        contradicting evidence, conflicts and citations.

        ``top_k`` (default 10); ``stance_mode`` ``"balanced"`` (default: both sides) or
        ``"support_only"``; ``as_of`` (valid time) and ``recorded_as_of`` (what the store knew
        then), datetimes with a timezone or RFC 3339 strings; filters ``entities`` (all must
        be mentioned), ``sources`` (evidence from one of them) and ``metadata`` (equality);
        ``graph_depth`` for the claim graph around the answers; ``explain`` for the planner's
        trace; ``wait_for_detection_ms`` to let contradiction detection catch up first;
        ``ranking`` ``"composite"`` (default) or ``"relevance"``.
        """
        answer = self._store.retrieve(
            tenant_id,
            query,
            top_k=top_k,
            stance_mode=stance_mode,
            graph_depth=graph_depth,
            explain=explain,
            wait_for_detection_ms=wait_for_detection_ms,
            ranking=ranking,
            **_query_inputs(embedding, as_of, recorded_as_of, entities, sources, metadata),
        )
        return response_from_native(answer)

    def stats(self) -> Dict[str, Any]:
        """Sizes, LSNs and counters (the fields of ``dash_core::StoreStats``)."""
        return self._store.stats()

    # --- operations --------------------------------------------------------------------

    def checkpoint(self) -> CheckpointReport:
        """Writes the WAL's records into a segment now (and merges segments if due)."""
        return CheckpointReport.from_dict(self._store.checkpoint())

    def flush(self) -> None:
        """Makes every acknowledged write durable now (``batched`` durability's window)."""
        self._store.flush()

    def wait_for_detection(self) -> bool:
        """Waits until contradiction detection has been through every commit; ``False`` if it
        has stopped."""
        return self._store.wait_for_detection()

    def wait_for_indexes(self) -> None:
        """Waits until every write is in the indexes and due graphs are built."""
        self._store.wait_for_indexes()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._store.closed

    def close(self) -> None:
        """Makes every acknowledged write durable and releases the directory; later calls
        raise :class:`~dash_memory.errors.StoreUnavailableError`. A second close does
        nothing."""
        self._store.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<dash_memory.Store {'closed' if self.closed else 'open'}>"


class Subscription:
    """A change feed (``Store.subscribe``): ``next(timeout)`` for one event, or iterate
    (blocking; the GIL is released while it waits). ``cursor`` is where to resume."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def next(self, timeout: Optional[float] = None) -> Optional[ChangeEvent]:
        """The next event, waiting up to ``timeout`` seconds (forever when None); None when
        none came in time."""
        if timeout is not None:
            found = self._native.next(max(0, int(timeout * 1000)))
            return None if found is None else ChangeEvent.from_dict(found)
        while True:
            found = self._native.next(1000)  # short waits: Ctrl-C is seen between them
            if found is not None:
                return ChangeEvent.from_dict(found)

    @property
    def cursor(self) -> Optional[str]:
        """The cursor (``"LSN:SEQ"``) of the last event delivered."""
        return self._native.cursor()

    def __iter__(self) -> Iterator[ChangeEvent]:
        while True:
            event = self.next()
            if event is not None:
                yield event
