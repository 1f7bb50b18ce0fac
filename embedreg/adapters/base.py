"""The adapter-family interface: what every family provides, built-in or plugin.

An adapter maps vectors of one generation's space into another's (a
*backward* adapter takes new-generation vectors to an older space, a
*forward* adapter old to new).  Each family is one :class:`Adapter`
subclass, registered in the ``embedreg.adapters`` entry-point group under its
:attr:`Adapter.family` name::

    [project.entry-points."embedreg.adapters"]
    my-family = "my_package.adapters:MyAdapter"

What the rest of embedreg relies on (resolver, galleries, persistence):

* :attr:`Adapter.family`, :attr:`Adapter.input_dim`, :attr:`Adapter.output_dim`;
* :meth:`Adapter.transform`: a float32 ``(N, input_dim)`` array in, a float32
  ``(N, output_dim)`` array out;
* :meth:`Adapter.affine`: ``(W, b)`` with ``y = x @ W.T + b`` when the map is
  affine (so paths of affine hops compile into one map), else ``None``;
* :meth:`Adapter.config_dict` / :meth:`Adapter.tensors` and
  :meth:`Adapter.from_parts`: a JSON-ready config plus named float arrays, so
  an adapter is saved as ``config.json`` + ``model.safetensors`` and can be
  applied without embedreg installed.

How a family is fit (what :class:`~embedreg.training.AdapterTrainer` relies on):

* :attr:`Adapter.config_class`: the family's hyperparameters, a dataclass
  derived from :class:`~embedreg.adapters.config.FamilyConfig` (``embedreg
  adapter train -o key=value`` sets its fields, ``embedreg adapter families``
  lists them);
* :attr:`Adapter.fitting` is ``"closed-form"`` for families solved in one step
  by the classmethod :meth:`Adapter.fit`, or ``"gradient"`` for subclasses of
  :class:`~embedreg.adapters.trainable.TrainableAdapter`, which the trainer
  fits with mini-batches (their torch module is built from the Procrustes
  solution and turned back into an adapter when training ends);
* :meth:`Adapter.defect_weight`: the matrix whose orthogonality defect
  ``D = ‖WWᵀ − I‖_F`` is reported (the affine ``W`` by default).

Example:
    >>> import numpy as np
    >>> from embedreg.adapters.base import AffineMap
    >>> m = AffineMap(np.eye(2, dtype=np.float32), np.ones(2, dtype=np.float32))
    >>> m.apply(np.zeros((1, 2), dtype=np.float32)).tolist()
    [[1.0, 1.0]]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..constants import ADAPTERS_GROUP
from ..errors import BrokenPlugin, DimensionMismatch, EmbedRegError, ValidationError
from ..plugins import available, load
from .config import FamilyConfig

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: Values of :attr:`Adapter.fitting`.
FITTING_KINDS: tuple[str, ...] = ("closed-form", "gradient")


@dataclass(frozen=True)
class AffineMap:
    """``y = x @ W.T + b``: a map of shape ``W: (out, in)``, ``b: (out,)``."""

    W: FloatArray
    b: FloatArray

    @property
    def input_dim(self) -> int:
        """Dimension of the vectors the map takes."""
        return int(self.W.shape[1])

    @property
    def output_dim(self) -> int:
        """Dimension of the vectors the map returns."""
        return int(self.W.shape[0])

    def apply(self, x: FloatArray) -> FloatArray:
        """Map a ``(N, in)`` batch to ``(N, out)``."""
        if x.shape[-1] != self.input_dim:
            raise DimensionMismatch(self.input_dim, int(x.shape[-1]), "affine map input")
        out: FloatArray = x @ self.W.T + self.b
        return out

    def then(self, other: AffineMap) -> AffineMap:
        """The map that applies ``self`` and then ``other``, as one affine map."""
        if other.input_dim != self.output_dim:
            raise DimensionMismatch(other.input_dim, self.output_dim, "composed affine maps")
        return AffineMap(other.W @ self.W, self.b @ other.W.T + other.b)


class Adapter(ABC):
    """A map between two generations' spaces; one subclass per family."""

    #: Family name, the key in the ``embedreg.adapters`` entry-point group.
    family: ClassVar[str]

    #: ``"closed-form"`` (solved by :meth:`fit`) or ``"gradient"`` (trained by
    #: :class:`~embedreg.training.AdapterTrainer`, see ``TrainableAdapter``).
    fitting: ClassVar[str] = "closed-form"

    #: The family's hyperparameters (a :class:`FamilyConfig` dataclass).
    config_class: ClassVar[type[FamilyConfig]] = FamilyConfig

    #: Where the family sorts in listings and comparisons (baselines first;
    #: plugins without a value come last, by name).
    order: ClassVar[int] = 100

    #: numpy lines computing ``y`` from ``x`` and the saved tensors ``t`` (for
    #: adapter cards; ``None``: the family has no numpy-only recipe).  A card
    #: keeps the snippet only if it reproduces :meth:`transform`.
    numpy_map: ClassVar[str | None] = None

    #: True when every adapter of the family is one affine map (:meth:`affine`
    #: never returns ``None``): paths through it compile into one matrix
    #: multiply and export as a ``Dense`` layer.
    affine_maps: ClassVar[bool] = False

    #: Labels of :meth:`card_facts` settings for figure tables (e.g.
    #: ``{"lambda": "λ"}``): a labelled setting gets a row in ``adapter show``
    #: and ``adapter compare`` tables.
    fact_labels: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def summary(cls) -> str:
        """The first line of the family's docstring, without reST markup (for listings)."""
        lines = (cls.__doc__ or "").strip().splitlines()
        return lines[0].replace("``", "") if lines else ""

    @classmethod
    def min_train_pairs(cls, input_dim: int) -> int:
        """Fewest training pairs the family can be fit on (an affine map's ``input_dim + 1``)."""
        return input_dim + 1

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        """The settings this family puts in ``--family auto``'s grid, simplest first.

        Each is a mapping of options (``{}``: the defaults) for data of
        ``n_train`` training pairs mapping ``input_dim`` to ``output_dim``,
        with or without ``labels``.  The default is none: a plugin family
        joins the grid by overriding this (see :mod:`embedreg.training.selection`).
        """
        return []

    @classmethod
    def make_config(cls, options: FamilyConfig | Mapping[str, Any] | None = None) -> FamilyConfig:
        """The family's config from ``options``: a config, ``key=value`` settings, or defaults.

        Raises:
            ValidationError: unknown keys, bad values, or another family's config.
        """
        if options is None:
            return cls.config_class()
        if isinstance(options, FamilyConfig):
            if not isinstance(options, cls.config_class):
                raise ValidationError(
                    f"adapter family {cls.family!r} takes a {cls.config_class.__name__}, "
                    f"got a {type(options).__name__}"
                )
            return options
        return cls.config_class.from_options(options, family=cls.family)

    @property
    @abstractmethod
    def input_dim(self) -> int:
        """Dimension of the vectors the adapter takes."""

    @property
    @abstractmethod
    def output_dim(self) -> int:
        """Dimension of the vectors the adapter returns."""

    @abstractmethod
    def transform(self, x: FloatArray) -> FloatArray:
        """Map a float32 ``(N, input_dim)`` batch to ``(N, output_dim)``."""

    def affine(self) -> AffineMap | None:
        """The adapter as one affine map, or ``None`` when it is not affine."""
        return None

    def card_facts(self) -> dict[str, float | int | str | bool]:
        """The family's headline settings, for ``adapter show``, cards and reports.

        A mapping of setting name → JSON value, e.g. λ-orthogonality's
        ``{"lambda": 12.0}``; the default is none.  embedreg records it with
        the adapter (its provenance's ``settings``) and shows it wherever the
        adapter is described, whatever the family, built-in or plugin.

        Example:
            >>> from embedreg.adapters.lambda_orth import LambdaOrthAdapter, LambdaOrthConfig
            >>> import numpy as np
            >>> eye, zero = np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32)
            >>> LambdaOrthAdapter(eye, zero, config=LambdaOrthConfig(lam=3.0)).card_facts()
            {'lambda': 3.0}
        """
        return {}

    def defect_weight(self) -> FloatArray | None:
        """The matrix whose orthogonality defect is reported (affine ``W`` by default)."""
        aff = self.affine()
        return None if aff is None else aff.W

    @classmethod
    def fit(
        cls, source: FloatArray, target: FloatArray, config: FamilyConfig, *, device: str = "cpu"
    ) -> Adapter:
        """Fit the family in closed form so that ``transform(source) ≈ target``.

        ``source`` is ``(N, input_dim)``, ``target`` ``(N, output_dim)``, both
        float32 with rows paired; ``config`` is an instance of
        :attr:`config_class`; ``device`` a concrete torch device to compute
        on.  Gradient families do not implement it.
        """
        raise NotImplementedError(f"adapter family {cls.family!r} has no closed-form fit")

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """JSON-ready hyperparameters and shapes (everything but the tensors)."""

    @abstractmethod
    def tensors(self) -> dict[str, FloatArray]:
        """The learned parameters as named arrays (saved with safetensors)."""

    @classmethod
    @abstractmethod
    def from_parts(cls, config: dict[str, Any], tensors: dict[str, FloatArray]) -> Adapter:
        """Rebuild an adapter from :meth:`config_dict` and :meth:`tensors`."""


def families() -> list[str]:
    """Names of the installed adapter families, in listing order (baselines first).

    Example:
        >>> families()[:3]
        ['identity', 'procrustes', 'affine']
    """
    classes = [family_class(name) for name in available(ADAPTERS_GROUP)]
    return [c.family for c in sorted(classes, key=lambda c: (c.order, c.family))]


def affine_families() -> list[str]:
    """Names of the installed families whose adapters are affine maps, in listing order.

    Example:
        >>> affine_families()[:3]
        ['identity', 'procrustes', 'affine']
    """
    return [name for name in families() if family_class(name).affine_maps]


def fact_labels() -> dict[str, str]:
    """Every installed family's labelled settings (:attr:`Adapter.fact_labels`), key → label.

    A family that cannot be loaded is passed over (tables still show the others').

    Example:
        >>> fact_labels()["lambda"]
        'λ'
    """
    labels: dict[str, str] = {}
    for name in available(ADAPTERS_GROUP):
        try:
            cls = family_class(name)
        except EmbedRegError:
            continue
        for key, label in cls.fact_labels.items():
            labels.setdefault(key, label)
    return labels


def family_class(name: str) -> type[Adapter]:
    """The :class:`Adapter` subclass registered as ``name`` (an ``embedreg.adapters`` entry point).

    Raises:
        PluginError: no installed package provides that family.
        BrokenPlugin: the entry point does not lead to an Adapter subclass of that name.
    """
    cls = load(ADAPTERS_GROUP, name, kind="adapter family")
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise BrokenPlugin("adapter family", name, ADAPTERS_GROUP, f"{cls!r} is not an Adapter")
    if getattr(cls, "family", None) != name:
        raise BrokenPlugin(
            "adapter family",
            name,
            ADAPTERS_GROUP,
            f"{cls.__name__}.family is {getattr(cls, 'family', None)!r}, not {name!r}",
        )
    return cls
