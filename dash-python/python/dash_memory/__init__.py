"""dash_memory: DASH, an evidence-first memory engine for retrieval-augmented generation,
embedded in Python.

>>> import dash_memory as dm
>>> with dm.Store() as store:  # in memory; Store("path/to/dir") keeps it on disk
...     _ = store.ingest(dm.IngestItem(dm.Claim("c1", "acme", "The Eiffel tower is in Paris", 0.9)))
...     [r.claim_id for r in store.retrieve("acme", "where is the Eiffel tower").results]
['c1']
"""

from ._native import __version__
from . import errors, types
from .errors import *  # noqa: F401,F403 - the exception classes (errors.__all__)
from .store import Item, Store
from .types import *  # noqa: F401,F403 - the typed objects (types.__all__)

__all__ = ["__version__", "Store", "Item", *types.__all__, *errors.__all__]
