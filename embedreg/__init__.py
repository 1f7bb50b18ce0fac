"""embedreg: the version manager for embedding models.

Track embedding-model generations pinned to exact bytes, train and measure
adapters between them, and route queries of any generation to galleries of
another through the best measured path.

The package is made of subpackages, one concept each, lowest first:
:mod:`embedreg.registry` (generations, records, stores), :mod:`embedreg.data`
(input files, embeddings files, paired embeddings), :mod:`embedreg.models`
(pinning, encoding, fingerprints), :mod:`embedreg.adapters` (the families and
their files), :mod:`embedreg.evaluation` (figures), :mod:`embedreg.training`
(fitting and registering adapters), :mod:`embedreg.routing` (query paths),
:mod:`embedreg.gallery` (FAISS galleries), :mod:`embedreg.upgrade` (moving
galleries to new generations), :mod:`embedreg.reports` (the compatibility
lookup, matrix, backfill curves, reports) and :mod:`embedreg.hub` (the Hugging
Face Hub: cards, publishing and pulling adapters, pushing and pulling registries).
The names below are the ones most programs need.

Example:
    >>> import embedreg
    >>> reg = embedreg.Registry.open("./.embedreg")  # doctest: +SKIP
    >>> reg.init()  # doctest: +SKIP
    >>> reg.add_generation(embedreg.pin_model("v2", "/models/minilm"))  # doctest: +SKIP
    >>> embedreg.resolve("v3", "v2", registry=reg).quality  # doctest: +SKIP
    0.981

Importing embedreg is cheap: each name loads its subpackage on first use, and
torch, transformers and faiss load only when a function that needs them runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import EmbedRegError
from .util.lazy import lazy_exports

if TYPE_CHECKING:
    from .adapters import defect
    from .gallery import Gallery, resolve
    from .models import Encoder, pin_model, register_model
    from .registry import (
        AdapterRecord,
        Figures,
        Fingerprint,
        GalleryRecord,
        Generation,
        HubSource,
        HubStore,
        LocalSource,
        LocalStore,
        Provenance,
        Recipe,
        Registry,
        RegistryDocument,
        Store,
        open_store,
    )
    from .reports import (
        EvalSet,
        backfill,
        compatibility_matrix,
        compatible,
        write_report,
    )
    from .routing import PathKind, QueryPath, Resolver, RoutingPolicy, reachable
    from .training import TrainConfig, train_adapter

#: Public name → the subpackage that defines it (imported on first access).
_WHERE = {
    "AdapterRecord": "registry",
    "Figures": "registry",
    "Fingerprint": "registry",
    "Provenance": "registry",
    "GalleryRecord": "registry",
    "Generation": "registry",
    "HubSource": "registry",
    "HubStore": "registry",
    "LocalSource": "registry",
    "LocalStore": "registry",
    "Recipe": "registry",
    "Registry": "registry",
    "RegistryDocument": "registry",
    "Store": "registry",
    "open_store": "registry",
    "Encoder": "models",
    "pin_model": "models",
    "register_model": "models",
    "TrainConfig": "training",
    "train_adapter": "training",
    "QueryPath": "routing",
    "Resolver": "routing",
    "RoutingPolicy": "routing",
    "PathKind": "routing",
    "defect": "adapters",
    "reachable": "routing",
    "compatible": "reports",
    "EvalSet": "reports",
    "backfill": "reports",
    "compatibility_matrix": "reports",
    "write_report": "reports",
    "Gallery": "gallery",
    "resolve": "gallery",
}

__all__ = [
    "AdapterRecord",
    "EmbedRegError",
    "Encoder",
    "EvalSet",
    "Figures",
    "Fingerprint",
    "Gallery",
    "GalleryRecord",
    "Generation",
    "HubSource",
    "HubStore",
    "LocalSource",
    "LocalStore",
    "PathKind",
    "Provenance",
    "QueryPath",
    "Recipe",
    "Registry",
    "RegistryDocument",
    "Resolver",
    "RoutingPolicy",
    "Store",
    "TrainConfig",
    "__version__",
    "backfill",
    "compatibility_matrix",
    "compatible",
    "defect",
    "open_store",
    "pin_model",
    "reachable",
    "register_model",
    "resolve",
    "train_adapter",
    "write_report",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _WHERE)
