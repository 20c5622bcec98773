"""LlamaIndex: :class:`DashLlamaRetriever`, a ``BaseRetriever`` over a
:class:`~dash_memory.Store`, with ``add_texts`` / ``add_nodes`` to fill it.

Each ``NodeWithScore`` is one claim: a ``TextNode`` whose ``id_`` is the claim id, whose text is
the claim's, and whose ``metadata`` keeps the evidence with its stance, the citations, the
conflicts, ``contested`` and the score breakdown (left out of what the LLM and the embedder
read, which is the claim's text alone).

Needs ``llama-index-core`` (``pip install llama-index-core``); imported only when this module
is.
"""

from __future__ import annotations

import asyncio
from typing import Any, List, Mapping, Optional, Sequence

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
except ImportError as e:  # pragma: no cover - said plainly to whoever imports without it
    raise ImportError(
        "dash_memory.llama_index needs llama-index-core: pip install llama-index-core"
    ) from e

from ._documents import ingest_texts, retrieve_claims
from .store import Store

__all__ = ["DashLlamaRetriever"]


class DashLlamaRetriever(BaseRetriever):
    """The claims of one tenant of a DASH store that answer a query, as LlamaIndex nodes.

    ``search_options`` are further :meth:`Store.retrieve` options (``stance_mode``,
    ``as_of``, ``entities``, ...).

    >>> import dash_memory as dm
    >>> from dash_memory.llama_index import DashLlamaRetriever
    >>> retriever = DashLlamaRetriever(dm.Store(), "acme", top_k=3)
    >>> _ = retriever.add_texts(["The Eiffel Tower is in Paris"], source_id="wiki")
    >>> hit = retriever.retrieve("Where is the Eiffel Tower?")[0]
    >>> hit.node.get_content(), hit.node.metadata["citations"][0]["source_id"]
    ('The Eiffel Tower is in Paris', 'wiki')
    """

    def __init__(self, store: Store, tenant_id: str, top_k: int = 10, **search_options: Any):
        super().__init__()
        self.store = store
        self.tenant_id = tenant_id
        self.top_k = top_k
        self.search_options = search_options

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        options = {"top_k": self.top_k, **self.search_options}
        hits = []
        for text, meta, score in retrieve_claims(
            self.store, self.tenant_id, query_bundle.query_str, options
        ):
            hidden = list(meta)
            node = TextNode(id_=meta["claim_id"], text=text, metadata=meta,
                            excluded_llm_metadata_keys=hidden,
                            excluded_embed_metadata_keys=hidden)
            hits.append(NodeWithScore(node=node, score=score))
        return hits

    async def _aretrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        # The store call releases the GIL: a worker thread keeps the event loop free.
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
        *,
        ids: Optional[Sequence[str]] = None,
        source_id: Optional[str] = None,
        confidence: float = 1.0,
    ) -> List[str]:
        """Ingests ``texts`` as claims of the tenant; returns the claim ids (see
        :meth:`dash_memory.langchain.DashRetriever.add_texts`)."""
        return ingest_texts(self.store, self.tenant_id, texts, metadatas=metadatas, ids=ids,
                            source_id=source_id, confidence=confidence)

    def add_nodes(
        self, nodes: Sequence[BaseNode], *, source_id: Optional[str] = None,
        confidence: float = 1.0,
    ) -> List[str]:
        """Ingests LlamaIndex nodes as claims (the node id as claim id)."""
        return self.add_texts(
            [n.get_content() for n in nodes],
            [n.metadata for n in nodes],
            ids=[n.node_id for n in nodes],
            source_id=source_id,
            confidence=confidence,
        )
