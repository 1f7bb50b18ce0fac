"""embedreg: the version manager for embedding models.

Track embedding-model generations pinned to exact bytes, train and measure
adapters between them, and route queries of any generation to galleries of
another through the best measured path.

Example:
    >>> import embedreg
    >>> reg = embedreg.Registry.open("./.embedreg")  # doctest: +SKIP
    >>> reg.init()  # doctest: +SKIP
    >>> reg.add_generation(embedreg.Generation.from_model("v2", "/models/minilm"))  # doctest: +SKIP

Importing embedreg is cheap: torch, transformers and faiss load only when a
function that needs them runs.
"""

from __future__ import annotations

from ._version import __version__
from .errors import EmbedRegError
from .generation import Generation, HubSource, LocalSource, Recipe
from .records import AdapterRecord, GalleryRecord
from .registry import Registry, RegistryDocument
from .resolver import QueryPath, Resolver, resolve
from .stores import LocalStore, Store, open_store

__all__ = [
    "AdapterRecord",
    "EmbedRegError",
    "GalleryRecord",
    "Generation",
    "HubSource",
    "LocalSource",
    "LocalStore",
    "QueryPath",
    "Recipe",
    "Registry",
    "RegistryDocument",
    "Resolver",
    "Store",
    "__version__",
    "open_store",
    "resolve",
]
