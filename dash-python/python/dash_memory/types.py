"""Typed objects for what DASH takes and answers, each with ``to_dict()`` (the HTTP contract's
JSON shape) and ``from_dict()``.

Instants are timezone-aware :class:`datetime.datetime` objects here and RFC 3339 strings in the
dicts.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import InvalidInputError

__all__ = [
    "Instant",
    "ChangeEvent",
    "Claim",
    "Evidence",
    "Edge",
    "IngestItem",
    "IngestReceipt",
    "BatchReceipt",
    "ForgetReceipt",
    "ScoreBreakdown",
    "Citation",
    "Conflict",
    "RetrievedClaim",
    "GraphNode",
    "GraphEdge",
    "Graph",
    "DetectionStatus",
    "RetrieveResponse",
    "VersionInfo",
    "ClaimVersion",
    "ClaimRecord",
    "CheckpointReport",
    "parse_instant",
    "format_instant",
]

#: An instant: a timezone-aware datetime, or an RFC 3339 string.
Instant = Union[datetime, str]

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 string as DASH writes it, as an aware datetime (microseconds kept)."""
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, frac, zone = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    offset = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}{offset}").replace(microsecond=micros)


def format_instant(value: Instant, what: str = "instant") -> str:
    """An instant as RFC 3339 in UTC, written as DASH writes it (the fraction of a second
    without trailing zeros: ``...:16.83094Z``, ``...:16Z``); a naive datetime is refused (its
    zone would be a guess)."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(f"{what}: a datetime needs a timezone (tzinfo)")
        text = value.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text + "Z"
    raise InvalidInputError(f"{what}: expected a datetime or an RFC 3339 string, got {type(value).__name__}")


class _Record:
    """The dict conversions shared by every typed object."""

    def to_dict(self) -> Dict[str, Any]:
        """The HTTP contract's JSON shape (instants as RFC 3339 strings; ``None`` kept)."""
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _plain(f.name, getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Builds the object from its dict; keys it does not know are ignored."""
        kwargs = {}
        for name, convert in _converters(cls):
            if name in data:
                value = data[name]
                kwargs[name] = value if value is None else convert(value)
        return cls(**kwargs)


_CONVERTERS: Dict[type, List[Tuple[str, Callable[[Any], Any]]]] = {}


def _converters(cls: type) -> List[Tuple[str, Callable[[Any], Any]]]:
    """Each field's converter from its dict value, made once per class (resolving the type
    hints on every answer cost milliseconds)."""
    made = _CONVERTERS.get(cls)
    if made is None:
        hints = typing.get_type_hints(cls, vars(sys.modules[__name__]))
        made = [(f.name, _converter(hints[f.name]))
                for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        _CONVERTERS[cls] = made
    return made


def _identity(value: Any) -> Any:
    return value


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return parse_instant(value)
    except ValueError:
        return value  # outside RFC 3339's years: DASH's raw form, kept


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How a dict value becomes the field's type (``None`` is handled by the caller)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union:  # Optional[X]
        inner = [a for a in args if a is not type(None)]
        return _converter(inner[0]) if len(inner) == 1 else _identity
    if origin in (list, List, Sequence) and args:
        item = _converter(args[0])
        if item is _identity:
            return _identity
        return lambda values: [item(v) for v in values]
    if isinstance(hint, type) and issubclass(hint, _Record):
        return lambda value: hint.from_dict(value) if isinstance(value, Mapping) else value
    if hint is datetime:
        return _instant
    return _identity


def _plain(name: str, value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, datetime):
        return format_instant(value, name)
    if isinstance(value, list):
        return [_plain(name, v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(k, v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # a numpy array
        return value.tolist()
    return value


# --- what a caller sends -------------------------------------------------------------------


@dataclasses.dataclass
class Claim(_Record):
    """A short canonical statement. ``subject``/``predicate``/``object`` are optional: plain
    text is enough for contradictions to be detected."""

    claim_id: str
    tenant_id: str
    canonical_text: str
    confidence: float = 1.0
    entities: List[str] = dataclasses.field(default_factory=list)
    valid_from: Optional[datetime] = None
    valid_to: Optional[datetime] = None
    event_time: Optional[datetime] = None
    embedding: Optional[List[float]] = None
    embedding_model: Optional[str] = None
    metadata: Dict[str, str] = dataclasses.field(default_factory=dict)
    subject: Optional[str] = None
    predicate: Optional[str] = None
    object: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        out = super().to_dict()
        if out.get("embedding_model") is None:
            out.pop("embedding_model", None)  # only accepted with an embedding
        return out


@dataclasses.dataclass
class Evidence(_Record):
    """A source's stance on a claim, with the span to cite."""

    evidence_id: str
    claim_id: str
    source_id: str
    stance: str  # "supports" | "contradicts" | "neutral"
    source_quality: float
    chunk_id: Optional[str] = None
    span_start: Optional[int] = None
    span_end: Optional[int] = None
    excerpt: Optional[str] = None


@dataclasses.dataclass
class Edge(_Record):
    """A relation between two claims: supports, contradicts, refines or supersedes."""

    from_claim_id: str
    to_claim_id: str
    relation: str
    strength: float = 1.0
    detected: bool = False
    reason: Optional[str] = None


@dataclasses.dataclass
class IngestItem(_Record):
    """A claim with its evidence and edges: what one ``ingest`` writes."""

    claim: Claim
    evidence: List[Evidence] = dataclasses.field(default_factory=list)
    edges: List[Edge] = dataclasses.field(default_factory=list)


# --- what DASH answers ---------------------------------------------------------------------


@dataclasses.dataclass
class IngestReceipt(_Record):
    """An acknowledged write of one claim version."""

    tenant_id: str
    claim_id: str
    lsn: int
    recorded_at: datetime
    version: int


@dataclasses.dataclass
class BatchReceipt(_Record):
    """An acknowledged batch: ``status`` is ``committed``, or ``replayed`` for a commit id seen
    before with the same content."""

    commit_id: str
    status: str
    lsn: int
    recorded_at: datetime
    items: List[IngestReceipt]


@dataclasses.dataclass
class ForgetReceipt(IngestReceipt):
    """An acknowledged forget: the tombstone version it wrote."""


@dataclasses.dataclass
class ScoreBreakdown(_Record):
    """Why a claim ranked where it did."""

    relevance: float
    lexical: float
    dense: float
    support: float
    contradiction: float
    confidence: float
    temporal: float


@dataclasses.dataclass
class Citation(_Record):
    """Where a piece of evidence is, machine-readable."""

    evidence_id: str
    source_id: str
    chunk_id: Optional[str] = None
    span_start: Optional[int] = None
    span_end: Optional[int] = None


@dataclasses.dataclass
class Conflict(_Record):
    """A claim that contradicts or supersedes an answer (stored or detected)."""

    claim_id: str
    relation: str
    canonical_text: str
    detected: bool
    strength: float
    reason: Optional[str] = None


@dataclasses.dataclass
class RetrievedClaim(_Record):
    """One answer: the claim, its evidence on both sides, its conflicts and citations."""

    claim_id: str
    canonical_text: str
    score: float
    score_breakdown: ScoreBreakdown
    confidence: float
    recorded_at: datetime
    version: int
    valid_from: Optional[datetime] = None
    valid_to: Optional[datetime] = None
    entities: List[str] = dataclasses.field(default_factory=list)
    supporting_evidence: List[Evidence] = dataclasses.field(default_factory=list)
    contradicting_evidence: List[Evidence] = dataclasses.field(default_factory=list)
    conflicts: List[Conflict] = dataclasses.field(default_factory=list)
    citations: List[Citation] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class GraphNode(_Record):
    """A claim in the graph around the answers."""

    claim_id: str
    canonical_text: str
    depth: int


@dataclasses.dataclass
class GraphEdge(Edge):
    """An edge in the graph around the answers."""


@dataclasses.dataclass
class Graph(_Record):
    """The claim graph around the answers (empty unless ``graph_depth`` was given)."""

    nodes: List[GraphNode] = dataclasses.field(default_factory=list)
    edges: List[GraphEdge] = dataclasses.field(default_factory=list)
    truncated: bool = False


@dataclasses.dataclass
class DetectionStatus(_Record):
    """How far contradiction detection was when the query read the tenant."""

    caught_up: bool
    pending: int
    watermark_lsn: int
    waited_ms: float


@dataclasses.dataclass
class RetrieveResponse(_Record):
    """The answer to ``retrieve``: ranked claims, best first."""

    tenant_id: str
    took_ms: float
    results: List[RetrievedClaim]
    detection: DetectionStatus
    query: Optional[str] = None
    graph: Graph = dataclasses.field(default_factory=Graph)
    #: The planner's per-stage trace, with ``explain=True`` (a dict; its fields may grow).
    explain: Optional[Dict[str, Any]] = None


class _NativeField:
    """A field of an answer from the native module, converted when first read and then kept
    on the object (a non-data descriptor: the instance's value wins from then on)."""

    __slots__ = ("name", "convert")

    def __init__(self, name: str, convert: Callable[[Any], Any]) -> None:
        self.name, self.convert = name, convert

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__["_native"].field(self.name)
        if value is not None:
            value = self.convert(value)
        obj.__dict__[self.name] = value
        return value


def _native_backed(cls: type, overrides: Optional[Dict[str, Callable[[Any], Any]]] = None) -> type:
    """A subclass of the dataclass ``cls`` whose objects read their fields from a native answer
    on first access: the same fields, ``to_dict``, repr and type, without converting what is
    never read."""
    overrides = overrides or {}
    attrs: Dict[str, Any] = {name: _NativeField(name, overrides.get(name, convert))
                             for name, convert in _converters(cls)}
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def __eq__(self: Any, other: Any) -> Any:
        # Equal to an object of ``cls`` with the same fields, however each was made.
        if not isinstance(other, cls):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def to_dict(self: Any) -> Dict[str, Any]:
        # What was read (and maybe changed) from the objects; the rest straight from the
        # native answer, already in the contract's shape — no dataclass built just to be undone.
        seen = self.__dict__
        native = seen["_native"]
        if len(seen) == 1:
            return native.to_dict()
        return {n: _plain(n, seen[n]) if n in seen else _native_plain(native.field(n))
                for n in names}

    attrs["__eq__"] = __eq__
    attrs["to_dict"] = to_dict
    attrs["__hash__"] = None
    attrs["__doc__"] = cls.__doc__
    attrs["__module__"] = cls.__module__
    attrs["__qualname__"] = cls.__qualname__
    return type(cls.__name__, (cls,), attrs)


def _native_plain(value: Any) -> Any:
    """A native field's value in the contract's shape (native results by their own dicts)."""
    if isinstance(value, list):
        return [_native_plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def _from_native(cls: type, native: Any) -> Any:
    obj = cls.__new__(cls)
    obj.__dict__["_native"] = native
    return obj


_NativeRetrievedClaim = _native_backed(RetrievedClaim)
_NativeRetrieveResponse = _native_backed(
    RetrieveResponse,
    {"results": lambda refs: [_from_native(_NativeRetrievedClaim, r) for r in refs]})


def response_from_native(answer: Any) -> RetrieveResponse:
    """A :class:`RetrieveResponse` over the native module's answer, its fields converted as
    they are read."""
    return _from_native(_NativeRetrieveResponse, answer)


@dataclasses.dataclass
class VersionInfo(_Record):
    """A version in a claim's history, without its content."""

    version: int
    lsn: int
    recorded_at: datetime
    forgotten: bool


@dataclasses.dataclass
class ClaimVersion(VersionInfo):
    """One kept version of a claim; a forget's tombstone has ``claim`` None."""

    claim: Optional[Claim] = None
    evidence: List[Evidence] = dataclasses.field(default_factory=list)
    edges: List[Edge] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ClaimRecord(ClaimVersion):
    """A claim's current version with its evidence, edges and history."""

    history: List[VersionInfo] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class CheckpointReport(_Record):
    """What a checkpoint (and any merge it made) did."""

    checkpoint_lsn: int
    manifest_generation: int
    segment_written: Optional[int]
    segment_bytes: int
    merged: bool
    merged_from: List[int]
    segments: int


@dataclasses.dataclass
class ChangeEvent(_Record):
    """One change of a tenant from the change feed (``Store.subscribe``,
    ``Client.events``): its ``type`` is ``claim_version``, ``forgotten``, ``edge_detected`` or
    ``edges_activated``, and the fields of that type are set. ``cursor`` (``"LSN:SEQ"``) is
    where to resume after it."""

    cursor: str
    lsn: int
    recorded_at: datetime
    tenant_id: str
    type: str
    claim_id: Optional[str] = None
    version: Optional[int] = None
    commit_id: Optional[str] = None
    redacted: bool = False
    claim: Optional[Claim] = None
    evidence: List[Evidence] = dataclasses.field(default_factory=list)
    edges: List[Edge] = dataclasses.field(default_factory=list)
    from_claim_id: Optional[str] = None
    from_version: Optional[int] = None
    to_claim_id: Optional[str] = None
    to_version: Optional[int] = None
    relation: Optional[str] = None
    strength: Optional[float] = None
    reason: Optional[str] = None
    epoch: Optional[int] = None
