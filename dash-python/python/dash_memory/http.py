"""An HTTP client for ``dash serve`` with the embedded :class:`~dash_memory.Store`'s methods
and answers (the same typed objects, the same exception classes).

>>> from dash_memory.http import Client
>>> client = Client("http://127.0.0.1:7700", api_key="change-me-0123456789")  # doctest: +SKIP
>>> client.retrieve("acme", "Arctic sea ice").results  # doctest: +SKIP

Credentials: an API key (``X-API-Key``) or a JWT (``Authorization: Bearer``); with
``signing_secret`` every write is signed (``X-DASH-Timestamp``, ``X-DASH-Nonce``,
``X-DASH-Signature``; docs/http-api.md). Standard library only (``urllib``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import errors
from .store import Item, _item_dict, _query_inputs
from .types import (
    BatchReceipt,
    ChangeEvent,
    ClaimRecord,
    ClaimVersion,
    ForgetReceipt,
    IngestReceipt,
    Instant,
    RetrieveResponse,
)

__all__ = ["Client"]

# The server's stable codes (docs/http-api.md) onto the package's exception classes.
_CLASSES = {
    "malformed_json": errors.InvalidInputError,
    "malformed_request": errors.InvalidInputError,
    "unknown_field": errors.InvalidInputError,
    "invalid": errors.InvalidInputError,
    "unsupported_media_type": errors.InvalidInputError,
    "commit_conflict": errors.CommitConflictError,
    "not_found": errors.NotFoundError,
    "payload_too_large": errors.TooLargeError,
    "unauthorized": errors.AuthenticationError,
    "signature_required": errors.AuthenticationError,
    "bad_signature": errors.AuthenticationError,
    "stale_request": errors.AuthenticationError,
    "replayed_request": errors.AuthenticationError,
    "forbidden": errors.PermissionDeniedError,
    "tenant_not_allowed": errors.PermissionDeniedError,
    "rate_limited": errors.OverloadedError,
    "queue_full": errors.OverloadedError,
    "read_only": errors.StoreUnavailableError,
    "shutting_down": errors.StoreUnavailableError,
    "timeout": errors.StoreUnavailableError,
    "unavailable": errors.StoreUnavailableError,
    "store_unavailable": errors.StoreUnavailableError,
    "index_unavailable": errors.IndexUnavailableError,
    "history_lost": errors.NotFoundError,
    "lagged": errors.StoreUnavailableError,
}


class Client:
    """``dash serve`` at ``url`` (e.g. ``http://127.0.0.1:7700``)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: Optional[str] = None,
        token: Optional[str] = None,
        signing_secret: Optional[str] = None,
        timeout: float = 30.0,
    ) -> None:
        if api_key is not None and token is not None:
            raise errors.InvalidInputError("give api_key or token, not both")
        self.url = url.rstrip("/")
        self._headers: Dict[str, str] = {}
        if api_key is not None:
            self._headers["X-API-Key"] = api_key
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._secret = signing_secret.encode("utf-8") if signing_secret is not None else None
        self.timeout = timeout

    # --- the wire ------------------------------------------------------------------------

    @staticmethod
    def _claim_path(claim_id: str, rest: str = "") -> str:
        """The path of a claim: its id is one segment (a ``/`` in it is escaped)."""
        return f"/v1/claims/{urllib.parse.quote(claim_id, safe='')}{rest}"

    def _call(
        self,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]] = None,
        body: Any = None,
        signed: bool = False,
    ) -> Any:
        target = path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode("utf-8") if body is not None else b""
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if signed and self._secret is not None:
            stamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
            message = "\n".join([method, target, stamp, nonce, hashlib.sha256(data).hexdigest()])
            headers["X-DASH-Timestamp"] = stamp
            headers["X-DASH-Nonce"] = nonce
            headers["X-DASH-Signature"] = hmac.new(
                self._secret, message.encode("utf-8"), hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.url + target, data=data if body is not None else None,
                                         method=method, headers=headers)
        with self._open(request, self.timeout) as answer:
            try:
                return json.loads(answer.read() or b"null")
            except (ConnectionError, http.client.HTTPException) as e:
                raise errors.StoreUnavailableError(f"{self.url}: the answer broke: {e}") from None

    def _open(self, request: urllib.request.Request, timeout: Optional[float]) -> Any:
        """Sends ``request``; the server's error answers and a server out of reach become the
        package's exceptions."""
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise _error(e) from None
        except urllib.error.URLError as e:
            raise errors.StoreUnavailableError(f"{self.url}: {e.reason}") from None
        except (ConnectionError, http.client.HTTPException) as e:
            raise errors.StoreUnavailableError(f"{self.url}: {e}") from None

    # --- the Store's methods -------------------------------------------------------------

    def ingest(self, item: Item) -> IngestReceipt:
        """``POST /v1/ingest``."""
        return IngestReceipt.from_dict(self._call("POST", "/v1/ingest", body=_item_dict(item),
                                                  signed=True))

    def ingest_batch(self, commit_id: str, items: Iterable[Item]) -> BatchReceipt:
        """``POST /v1/ingest/batch``: atomic and idempotent by ``commit_id``."""
        body = {"commit_id": commit_id,
                "items": [_item_dict(it, f"items[{i}]") for i, it in enumerate(items)]}
        return BatchReceipt.from_dict(self._call("POST", "/v1/ingest/batch", body=body,
                                                 signed=True))

    def get_claim(self, tenant_id: str, claim_id: str) -> Optional[ClaimRecord]:
        """``GET /v1/claims/{id}``; ``None`` when unknown or forgotten."""
        try:
            found = self._call("GET", self._claim_path(claim_id), {"tenant_id": tenant_id})
        except errors.NotFoundError:
            return None
        return ClaimRecord.from_dict(found)

    def versions(self, tenant_id: str, claim_id: str) -> List[ClaimVersion]:
        """``GET /v1/claims/{id}/versions``: every kept version, oldest first (empty when
        unknown). Unlike the embedded store, the server withholds a forgotten claim's content:
        its versions then carry only their version fields."""
        try:
            found = self._call("GET", self._claim_path(claim_id, "/versions"),
                               {"tenant_id": tenant_id})
        except errors.NotFoundError:
            return []
        return [ClaimVersion.from_dict(v) for v in found["versions"]]

    def forget(self, tenant_id: str, claim_id: str) -> ForgetReceipt:
        """``DELETE /v1/claims/{id}``."""
        return ForgetReceipt.from_dict(self._call("DELETE", self._claim_path(claim_id),
                                                  {"tenant_id": tenant_id}, signed=True))

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
    ) -> RetrieveResponse:
        """``POST /v1/retrieve`` with :meth:`dash_memory.Store.retrieve`'s options (``ranking``
        is the library's alone)."""
        given = _query_inputs(embedding, as_of, recorded_as_of, entities, sources, metadata)
        body: Dict[str, Any] = {"tenant_id": tenant_id, "explain": explain,
                                "entity": given["entities"], "source_id": given["sources"],
                                "metadata": given["metadata"]}
        optional = {
            "query": query,
            "query_embedding": given["embedding"],
            "top_k": top_k,
            "stance_mode": stance_mode,
            "as_of": given["as_of"],
            "recorded_as_of": given["recorded_as_of"],
            "graph_depth": graph_depth,
            "wait_for_detection_ms": wait_for_detection_ms,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return RetrieveResponse.from_dict(self._call("POST", "/v1/retrieve", body=body))

    def events(
        self,
        tenant_id: str,
        *,
        from_lsn: Union[int, str, None] = None,
        after: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Iterator[ChangeEvent]:
        """``GET /v1/events``: the tenant's change feed as it happens (Server-Sent Events),
        from ``after`` (a cursor, exclusive), else ``from_lsn`` (an LSN or ``"oldest"``), else
        from now on. Iterates until the stream ends or ``timeout`` seconds pass without a byte
        (``socket.timeout``); a stream that cannot go on raises its error (``lagged``: read
        slower, and resume after ``exc.resume_after``)."""
        query = {"tenant_id": tenant_id}
        if after is not None:
            query["after"] = after
        elif from_lsn is not None:
            query["from_lsn"] = str(from_lsn)
        request = urllib.request.Request(
            self.url + "/v1/events?" + urllib.parse.urlencode(query),
            headers={**self._headers, "Accept": "text/event-stream"})
        with self._open(request, timeout) as answer:
            try:
                yield from self._read_events(answer)
            except (ConnectionError, http.client.HTTPException) as e:
                raise errors.StoreUnavailableError(f"{self.url}: the stream broke: {e}") from None

    @staticmethod
    def _read_events(answer: Any) -> Iterator[ChangeEvent]:
        for kind, data in _sse(answer):
            if kind == "error":
                detail = json.loads(data).get("error", {})
                exc = _exception(detail.get("code", "internal"),
                                 detail.get("message", "the feed ended"), 200, None)
                exc.resume_after = detail.get("resume_after")
                raise exc
            yield ChangeEvent.from_dict(json.loads(data))

    def health(self) -> Dict[str, Any]:
        """``GET /health``: status, claims, WAL bytes, segments, read-only, indexing (a
        server that cannot serve answers 503, raised as :class:`~dash_memory.DashError`)."""
        return self._call("GET", "/health")

    def close(self) -> None:
        """Nothing to release (one connection per call); for symmetry with the Store."""

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(e: "urllib.error.HTTPError") -> errors.DashError:
    """The exception for an error answer (its ``code``, ``status`` and ``Retry-After`` kept)."""
    try:
        detail = json.loads(e.read() or b"{}").get("error", {})
    except ValueError:
        detail = {}
    retry = e.headers.get("Retry-After") if e.headers else None
    return _exception(detail.get("code", "internal"), detail.get("message", f"HTTP {e.code}"),
                      e.code, int(retry) if retry and retry.isdigit() else None)


def _exception(code: str, message: str, status: int, retry_after: Optional[int]) -> errors.DashError:
    exc = _CLASSES.get(code, errors.DashError)(message)
    exc.status, exc.code, exc.retry_after = status, code, retry_after
    return exc


def _sse(stream: Any) -> Iterator[Any]:
    """``(event, data)`` for each Server-Sent Event of a byte stream (comments skipped)."""
    kind, data = "message", []
    for raw in stream:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield kind, "\n".join(data)
            kind, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
