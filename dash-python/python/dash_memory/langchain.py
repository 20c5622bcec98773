"""LangChain: :class:`DashRetriever`, a ``BaseRetriever`` over a :class:`~dash_memory.Store`
(sync and async), with ``add_texts`` / ``add_documents`` to fill it.

Each ``Document`` is one claim: ``page_content`` its text, ``id`` its claim id, and
``metadata`` the claim id, score and score breakdown, the supporting and contradicting
evidence (with stance), the citations (source, chunk, span), the conflicts and ``contested``
(any conflict or contradicting evidence) — what DASH knows against a claim is not lost on the
way into the chain.

Needs ``langchain-core`` (``pip install langchain-core``); imported only when this module is.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Mapping, Optional, Sequence

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field
except ImportError as e:  # pragma: no cover - said plainly to whoever imports without it
    raise ImportError(
        "dash_memory.langchain needs langchain-core: pip install langchain-core"
    ) from e

from ._documents import ingest_texts, retrieve_claims
from .store import Store

__all__ = ["DashRetriever"]


class DashRetriever(BaseRetriever):
    """The claims of one tenant of a DASH store that answer a query, as LangChain documents.

    >>> import dash_memory as dm
    >>> from dash_memory.langchain import DashRetriever
    >>> retriever = DashRetriever(store=dm.Store(), tenant_id="acme", top_k=3)
    >>> _ = retriever.add_texts(["The Eiffel Tower is in Paris"], source_id="wiki")
    >>> doc = retriever.invoke("Where is the Eiffel Tower?")[0]
    >>> doc.page_content, doc.metadata["citations"][0]["source_id"]
    ('The Eiffel Tower is in Paris', 'wiki')
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Store
    """The store to search."""
    tenant_id: str
    """The tenant searched (and written by ``add_texts``)."""
    top_k: int = 10
    """Documents returned."""
    search_options: Dict[str, Any] = Field(default_factory=dict)
    """Further :meth:`Store.retrieve` options: ``stance_mode``, ``as_of``, ``entities``, ..."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: Optional[CallbackManagerForRetrieverRun] = None
    ) -> List[Document]:
        options = {"top_k": self.top_k, **self.search_options}
        return [
            Document(page_content=text, metadata=meta, id=meta["claim_id"])
            for text, meta, _ in retrieve_claims(self.store, self.tenant_id, query, options)
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: Optional[AsyncCallbackManagerForRetrieverRun] = None
    ) -> List[Document]:
        # The store call releases the GIL: a worker thread keeps the event loop free.
        return await asyncio.to_thread(self._get_relevant_documents, query)

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
        *,
        ids: Optional[Sequence[str]] = None,
        source_id: Optional[str] = None,
        confidence: float = 1.0,
    ) -> List[str]:
        """Ingests ``texts`` as claims of the tenant (ids given, or hashes of the texts;
        metadata values kept as strings; with ``source_id`` each gets one supporting evidence
        citing the whole text). Returns the claim ids."""
        return ingest_texts(self.store, self.tenant_id, texts, metadatas=metadatas, ids=ids,
                            source_id=source_id, confidence=confidence)

    def add_documents(
        self, documents: Sequence[Document], *, source_id: Optional[str] = None,
        confidence: float = 1.0,
    ) -> List[str]:
        """Ingests LangChain documents as claims (their ``id`` as claim id when set)."""
        ids = [d.id for d in documents]
        return self.add_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=ids if all(ids) else None,
            source_id=source_id,
            confidence=confidence,
        )
