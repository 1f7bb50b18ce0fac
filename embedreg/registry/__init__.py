"""The registry: pinned generations, adapter and gallery records, aliases, and their stores.

Everything here is bookkeeping (records in one ``registry.json``, moved by a
:class:`~embedreg.registry.stores.Store`); nothing loads a model or a tensor.

Example:
    >>> import tempfile
    >>> reg = Registry.open(tempfile.mkdtemp())
    >>> reg.init()
    True
    >>> reg.add_generation(Generation("v1", HubSource("org/m", "0" * 40), Recipe(), 8)).pin
    'org/m@0000000000000000000000000000000000000000'
"""

from __future__ import annotations

from .document import RegistryDocument
from .figures import Figures, Scores
from .generation import MODALITIES, POOLING_MODES, SKETCH_SIZE, Fingerprint, Generation, Recipe
from .names import validate_name
from .provenance import PathsRecord, Provenance, SelectionRecord
from .records import DIRECTIONS, AdapterRecord, GalleryRecord, Publication
from .registry import LATEST, Registry, Removal
from .sources import HubSource, LocalSource, ModelSource, source_from_dict
from .stores import HubStore, LocalStore, Store, default_location, open_store
from .towers import TEXT_IMAGE, ImageRecipe, Tower, towers_of

__all__ = [
    "DIRECTIONS",
    "LATEST",
    "MODALITIES",
    "POOLING_MODES",
    "SKETCH_SIZE",
    "TEXT_IMAGE",
    "AdapterRecord",
    "Figures",
    "Fingerprint",
    "GalleryRecord",
    "Generation",
    "HubSource",
    "HubStore",
    "ImageRecipe",
    "LocalSource",
    "LocalStore",
    "ModelSource",
    "PathsRecord",
    "Provenance",
    "Publication",
    "Recipe",
    "Registry",
    "RegistryDocument",
    "Removal",
    "Scores",
    "SelectionRecord",
    "Store",
    "Tower",
    "default_location",
    "open_store",
    "source_from_dict",
    "towers_of",
    "validate_name",
]
