"""Type stubs of the native module (dash-python's Rust). Use :class:`dash_memory.Store`, which
wraps it in typed objects."""

import os
from typing import Any, Dict, List, Optional, Tuple

__version__: str
#: (kind, exception class name) for every kind of DASH error.
ERROR_KINDS: List[Tuple[str, str]]

class Store:
    def __init__(
        self,
        path: Optional[str] = None,
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
        embedder_dir: Optional[str] = None,
    ) -> None: ...
    def ingest(self, item: Dict[str, Any]) -> Dict[str, Any]: ...
    def ingest_batch(self, commit_id: str, items: List[Dict[str, Any]]) -> Dict[str, Any]: ...
    def get_claim(self, tenant_id: str, claim_id: str) -> Optional[Dict[str, Any]]: ...
    def versions(self, tenant_id: str, claim_id: str) -> List[Dict[str, Any]]: ...
    def forget(self, tenant_id: str, claim_id: str) -> Dict[str, Any]: ...
    def subscribe(
        self, tenant_id: str, from_lsn: Optional[Any] = None, after: Optional[str] = None
    ) -> Subscription: ...
    def retrieve(
        self,
        tenant_id: str,
        text: Optional[str] = None,
        *,
        embedding: Optional[List[float]] = None,
        top_k: Optional[int] = None,
        stance_mode: Optional[str] = None,
        as_of: Optional[str] = None,
        recorded_as_of: Optional[str] = None,
        entities: List[str] = ...,
        sources: List[str] = ...,
        metadata: Dict[str, str] = ...,
        graph_depth: Optional[int] = None,
        explain: bool = False,
        wait_for_detection_ms: Optional[int] = None,
        ranking: Optional[str] = None,
    ) -> Answer: ...
    def stats(self) -> Dict[str, Any]: ...
    def checkpoint(self) -> Dict[str, Any]: ...
    def flush(self) -> None: ...
    def wait_for_detection(self) -> bool: ...
    def wait_for_indexes(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...

class Subscription:
    def next(self, timeout_ms: int) -> Optional[Dict[str, Any]]: ...
    def cursor(self) -> Optional[str]: ...

class Answer:
    def field(self, name: str) -> Any: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Result:
    def field(self, name: str) -> Any: ...
    def to_dict(self) -> Dict[str, Any]: ...
