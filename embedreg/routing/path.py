"""QueryPath: the chosen route from a query generation to a gallery generation.

A path is its hops (adapters, identity joins) with their measured figures;
it explains itself (:meth:`QueryPath.explain`), compiles its adapters into
as few stages as possible (:mod:`.compiled`) and applies them to numpy
arrays or torch tensors, or hands a FAISS index a pre-transform that applies
them inside the search (:mod:`.pretransform`).  Paths come from
:class:`~embedreg.routing.Resolver`.

Example:
    >>> path = QueryPath("v2", "v2", ())
    >>> path.is_identity, path.quality, path.explain()
    (True, 1.0, 'v2 → v2: quality 1.000 (same space, no mapping)')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..adapters import Adapter, AffineMap
from ..errors import DimensionMismatch, EmbedRegError, ValidationError
from ..evaluation.bootstrap import Interval
from .compiled import NumpyMap, Stage, TorchMap, merge_stages
from .hops import Candidate, Hop, quality
from .pretransform import FaissIndex, pretransform

__all__ = ["QueryPath"]


class QueryPath:
    """The chosen route from a query generation to a gallery generation.

    Attributes:
        query: generation that embedded the queries.
        gallery: generation that embedded the gallery.
        hops: the steps, in order (empty when the two are the same generation).
        quality: product of the hops' retentions, each capped at 1.
        alternatives: the other candidates considered, best first.
        renormalize: whether mapped queries are L2-normalised (the gallery's
            recipe normalises its vectors).
    """

    def __init__(
        self,
        query: str,
        gallery: str,
        hops: Sequence[Hop],
        *,
        alternatives: Sequence[Candidate] = (),
        renormalize: bool = False,
        input_dim: int | None = None,
        output_dim: int | None = None,
        loader: Callable[[str], Adapter] | None = None,
    ) -> None:
        self.query = query
        self.gallery = gallery
        self.hops = tuple(hops)
        self.alternatives = tuple(alternatives)
        self.renormalize = renormalize
        self.input_dim = input_dim
        self.output_dim = output_dim
        self._loader = loader
        self._stages: list[Stage] | None = None
        self._numpy: NumpyMap | None = None
        self._torch: TorchMap | None = None

    def __repr__(self) -> str:
        return f"QueryPath({self.query!r} → {self.gallery!r}, hops={len(self.hops)}, quality={self.quality:.3f})"

    @property
    def quality(self) -> float:
        """Product of the hops' retentions, each capped at 1 (1.0 for the empty path)."""
        return quality(self.hops)

    @property
    def basis(self) -> str:
        """What the hops' retentions were measured with (``cmc@1``, ``judged-sim@10``, …)."""
        return Candidate(self.hops).basis

    @property
    def interval(self) -> Interval | None:
        """The quality's band from the hops' bootstrap intervals (``None`` if a hop has none)."""
        return Candidate(self.hops).interval

    @property
    def criterion(self) -> str:
        """``pass``, ``fail`` (an adapter on the path failed it) or ``unknown`` (not judged)."""
        return Candidate(self.hops).criterion

    def warning(self) -> str | None:
        """A line for stderr when an adapter on the path failed the criterion (else ``None``)."""
        failed = [h for h in self.hops if h.criterion is False]
        if not failed:
            return None
        parts = []
        for hop in failed:
            detail = _criterion_detail(hop)
            parts.append(f"{hop.adapter_id}{f' ({detail})' if detail else ''}")
        return (
            f"path {self.query} → {self.gallery} goes through {', '.join(parts)}, which failed the "
            f"compatibility criterion on held-out data: its queries do worse than "
            f"{self.gallery}'s own; --require-compatible refuses it"
        )

    @property
    def adapter_ids(self) -> list[str]:
        """Ids of the adapters applied, in order."""
        return [h.adapter_id for h in self.hops if h.adapter_id]

    @property
    def key(self) -> tuple[Any, ...]:
        """What the path computes: its adapters' ids and weight hashes, and re-normalisation."""
        return (
            self.query,
            self.gallery,
            tuple((h.adapter_id, h.sha256) for h in self.hops if not h.is_identity),
            self.renormalize,
        )

    @property
    def is_identity(self) -> bool:
        """True when queries need no mapping at all."""
        return not self.adapter_ids

    # --- explanation ------------------------------------------------------------------

    def explain(self) -> str:
        """Why this path: its hops with their figures, and what it beat."""
        ci = self.interval
        band = f" {ci.format()}" if ci and not self.is_identity else ""
        head = f"{self.query} → {self.gallery}: quality {self.quality:.3f}{band}"
        if not self.is_identity:
            head += f" by {self.basis}, criterion {self.criterion.upper() if self.criterion == 'fail' else self.criterion}"
        lines = [f"{head} ({self._summary()})"]
        lines += [f"  hop {i}: {hop.describe()}" for i, hop in enumerate(self.hops, 1)]
        for alt in self.alternatives[:5]:
            flag = ", fails the criterion" if alt.criterion == "fail" else ""
            lines.append(
                f"  beat: {alt.label()} (quality {alt.quality:.3f}, {alt.adapter_hops} hop(s){flag})"
            )
        return "\n".join(lines)

    def _summary(self) -> str:
        if self.is_identity:
            return "same space, no mapping"
        n = len(self.adapter_ids)
        return f"{n} adapter hop{'s' if n != 1 else ''}: {' → '.join(self.adapter_ids)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``embedreg resolve --json`` prints)."""
        ci = self.interval
        return {
            "query": self.query,
            "gallery": self.gallery,
            "quality": self.quality,
            "basis": self.basis,
            "interval": ci.to_list() if ci else None,
            "criterion": self.criterion,
            "compatible": self.criterion != "fail",
            "warning": self.warning(),
            "hops": [h.to_dict() for h in self.hops],
            "adapters": self.adapter_ids,
            "renormalize": self.renormalize,
            "alternatives": [
                {
                    "adapters": [h.adapter_id for h in a.hops if h.adapter_id],
                    "quality": a.quality,
                    "basis": a.basis,
                    "criterion": a.criterion,
                }
                for a in self.alternatives
            ],
        }

    # --- compiling and applying ------------------------------------------------------

    @property
    def stages(self) -> list[Stage]:
        """The path as applied: runs of affine hops merged into one map each.

        Loading the adapters happens here, the first time it is needed.
        """
        if self._stages is None:
            ids = self.adapter_ids
            if ids and self._loader is None:
                raise EmbedRegError(
                    f"path {self.query} → {self.gallery} has no adapter loader",
                    "get paths from Resolver(registry).resolve(...)",
                )
            loader = self._loader
            self._stages = merge_stages([loader(i) for i in ids] if loader else [])
        return self._stages

    @property
    def affine(self) -> AffineMap | None:
        """The whole path as one affine map (``None`` if a hop is not affine or no hop maps)."""
        stages = self.stages
        if len(stages) == 1 and isinstance(stages[0], AffineMap):
            return stages[0]
        return None

    def apply(self, x: Any) -> Any:
        """Map query vectors into the gallery's space.

        Takes a float32 numpy array ``(N, d_query)`` or a torch tensor (kept on
        its device) and returns the same kind, ``(N, d_gallery)``, L2-normalised
        when the gallery's recipe normalises.

        To map queries right before a FAISS search, prefer :meth:`to_faiss`
        (as :meth:`Gallery.search_vectors <embedreg.gallery.Gallery.search_vectors>`
        does): numpy's BLAS threads keep spinning after the product and slow
        FAISS's own threads down on small machines (bench/RESULTS.md).

        Example::

            path = Resolver(reg).resolve("v3", "v2")   # or embedreg.resolve(...).map_path
            old_space = path.apply(v3_queries)   # (N, 384), unit rows
        """
        if type(x).__module__.startswith("torch"):
            self._check_input(int(x.shape[-1]))
            if self._torch is None:
                self._torch = TorchMap(self.stages, renormalize=self.renormalize)
            return self._torch(x)
        out = (
            x
            if isinstance(x, np.ndarray) and x.dtype == np.float32
            else np.asarray(x, dtype=np.float32)
        )
        if out.ndim != 2:
            raise ValidationError(f"query vectors must be a 2-D batch, got shape {out.shape}")
        self._check_input(out.shape[1])
        if self._numpy is None:
            self._numpy = NumpyMap(self.stages, renormalize=self.renormalize)
        return self._numpy(out)

    def _check_input(self, dim: int) -> None:
        if self.input_dim is not None and dim != self.input_dim:
            raise DimensionMismatch(
                self.input_dim,
                dim,
                f"queries of generation {self.query!r}",
                f"embed the queries with generation {self.query!r}",
            )

    def to_faiss(self, index: FaissIndex) -> FaissIndex:
        """Wrap ``index`` so that it takes query vectors of the query generation.

        Returns a FAISS ``IndexPreTransform`` applying the compiled path as one
        ``LinearTransform`` (plus a ``NormalizationTransform`` when the gallery
        normalises); the identity path returns ``index`` itself.  Only
        all-affine paths can be exported.
        """
        if self.is_identity:
            return index
        affine = self.affine
        if affine is None:
            families = sorted({h.family or "?" for h in self.hops if h.adapter_id})
            raise EmbedRegError(
                f"path {self.query} → {self.gallery} goes through a non-affine adapter ({', '.join(families)})",
                "it cannot be a FAISS pre-transform; map queries with QueryPath.apply instead",
            )
        if affine.output_dim != index.d:
            raise DimensionMismatch(
                index.d, affine.output_dim, f"path {self.query} → {self.gallery} output"
            )
        return pretransform(affine, index, renormalize=self.renormalize)


def _criterion_detail(hop: Hop) -> str:
    """``CMC@1 0.801 < 0.934`` from a hop's figures, when they hold the two sides."""
    f = hop.figures
    for mine, theirs, label in (
        (f.cmc_at_1, f.target.cmc_at_1, "CMC@1"),
        (f.ndcg_at_10, f.target.ndcg_at_10, "nDCG@10"),
    ):
        if mine is not None and theirs is not None:
            return f"{label} {mine:.3f} < {theirs:.3f}"
    return ""
