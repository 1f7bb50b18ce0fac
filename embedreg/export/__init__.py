"""Exports: a query path as a model that other libraries load without embedreg.

* :func:`export_sentence_transformers` (``embedreg export sentence-transformers``):
  an adapter, or the best path ``NEW:OLD``, as a sentence-transformers folder:
  the source generation's pinned model with its recipe, the compiled path as a
  ``Dense`` layer, normalisation; verified against embedreg's own vectors
  before it is written (:mod:`.verify`), with a card (:mod:`.card`);
* :func:`publish_sentence_transformers` (``embedreg adapter publish ID --as
  sentence-transformers``): the same, uploaded to a Hub repo in one commit;
* :func:`export_plan`: what an export would carry, refused early when one
  model cannot carry it (:data:`UNEXPORTABLE_KINDS`).

sentence-transformers is the optional extra ``embedreg[st]``; nothing here
imports it until a model is built or loaded.

Example:
    >>> from embedreg.export import UNEXPORTABLE_KINDS
    >>> sorted(UNEXPORTABLE_KINDS)
    ['cascade', 'fused']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .target import EXPORTABLE_KINDS, UNEXPORTABLE_KINDS, ExportPlan, export_plan

if TYPE_CHECKING:
    from .folder import ExportResult, export_sentence_transformers
    from .publish import StPublication, publish_sentence_transformers
    from .verify import Verification, verify_export

_WHERE = {
    "ExportResult": "folder",
    "export_sentence_transformers": "folder",
    "StPublication": "publish",
    "publish_sentence_transformers": "publish",
    "Verification": "verify",
    "verify_export": "verify",
}

__all__ = [
    "EXPORTABLE_KINDS",
    "UNEXPORTABLE_KINDS",
    "ExportPlan",
    "ExportResult",
    "StPublication",
    "Verification",
    "export_plan",
    "export_sentence_transformers",
    "publish_sentence_transformers",
    "verify_export",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _WHERE)
