"""Families trained by gradient descent: what :class:`~embedreg.training.AdapterTrainer` needs.

A gradient family subclasses :class:`TrainableAdapter`, gives a config class
derived from :class:`GradientConfig` (the loss weights every gradient family
shares, plus its own options; a config without them trains with the default
weights), and provides

* :meth:`TrainableAdapter.build_module`: a ``torch.nn.Module`` computing the
  map, initialised from the Procrustes solution (``init``, an affine map
  with the optimal bias), so training starts from the best orthogonal map;
* :meth:`TrainableAdapter.module_weight`: the module's linear weight (the
  matrix whose defect ``D`` is logged and, for λ-orth, regularised), or
  ``None``;
* :meth:`TrainableAdapter.penalty`: an extra loss term and the defect it
  measured (λ-orth's ``L_λ``), or ``None``;
* :meth:`TrainableAdapter.companion_module` and
  :meth:`TrainableAdapter.companion_loss`: a second module the family trains
  jointly with the map, and its loss term (λ-orth's joint forward map ``F̃``
  and ``L_F``), or none;
* :meth:`TrainableAdapter.from_module`: the trained module (and companion)
  back as an adapter (numpy tensors, no torch needed to apply it).

The trainer owns the data, the losses every family shares (``L_B``,
contrastive), the optimiser and early stopping; its schedule
(:class:`~embedreg.training.TrainConfig`) is the same for every family.

Example:
    >>> from embedreg.adapters import family_class
    >>> family_class("lambda-orth").fitting
    'gradient'
    >>> GradientConfig().resolved(labels=True).w_contrastive
    0.1
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Adapter, AffineMap
from .config import FamilyConfig, check_non_negative, check_positive

if TYPE_CHECKING:
    import torch

__all__ = ["AUTO_CONTRASTIVE_WEIGHT", "GradientConfig", "TrainableAdapter"]

#: ``w_contrastive`` used when it is left automatic and the pairs carry labels.
AUTO_CONTRASTIVE_WEIGHT = 0.1


@dataclass(frozen=True)
class GradientConfig(FamilyConfig):
    """The loss every gradient family is trained with: ``w_B·L_B + w_C·L_C`` (+ the family's own terms).

    Attributes:
        w_backward: weight of the alignment loss ``L_B = mean ‖B(x) − y‖²``.
        w_contrastive: weight of the contrastive term: supervised contrastive
            (SupCon) when the pairs carry labels, InfoNCE (each item's pair is
            its positive) when they do not; ``None`` means 0.1 with labels and
            0 without (InfoNCE measured no CMC gain on BBC News and costs time).
        temperature: temperature of InfoNCE / SupCon.
        center: start from the *centred* Procrustes map (the rotation of the
            deviations from each side's mean, plus the bias between the
            means) instead of the uncentred one; for low-rank and MLP it is
            also their fixed base map.
    """

    w_backward: float = field(default=1.0, metadata={"help": "weight of the alignment loss L_B"})
    w_contrastive: float | None = field(
        default=None,
        metadata={"help": "weight of the contrastive term (none: 0.1 with labels, 0 without)"},
    )
    temperature: float = field(
        default=0.1, metadata={"help": "temperature of the contrastive term"}
    )
    center: bool = field(
        default=False, metadata={"help": "start from the centred Procrustes map (means removed)"}
    )

    def __post_init__(self) -> None:
        check_non_negative("w_backward", self.w_backward)
        if self.w_contrastive is not None:
            check_non_negative("w_contrastive", self.w_contrastive)
        check_positive("temperature", self.temperature)

    def resolved(self, *, labels: bool) -> GradientConfig:
        """A copy with the automatic settings decided for data with or without labels."""
        if self.w_contrastive is not None:
            return self
        return replace(self, w_contrastive=AUTO_CONTRASTIVE_WEIGHT if labels else 0.0)


class TrainableAdapter(Adapter):
    """Base class of the families that :class:`~embedreg.training.AdapterTrainer` trains."""

    fitting: ClassVar[str] = "gradient"
    config_class: ClassVar[type[FamilyConfig]] = GradientConfig

    @classmethod
    @abstractmethod
    def build_module(cls, init: AffineMap, config: FamilyConfig) -> torch.nn.Module:
        """A module ``(N, in) → (N, out)`` that starts as the map ``init``.

        ``config`` is an instance of the family's :attr:`config_class`.
        """

    @classmethod
    def module_weight(cls, module: torch.nn.Module) -> torch.Tensor | None:
        """The module's linear weight ``(out, in)`` (for ``D``), or ``None``."""
        return None

    @classmethod
    def penalty(
        cls, module: torch.nn.Module, config: FamilyConfig
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """An extra loss term and the defect it measured, or ``None``."""
        return None

    @classmethod
    def companion_module(cls, dimension: int, config: FamilyConfig) -> torch.nn.Module | None:
        """A module trained jointly with the map, on target vectors of ``dimension``, or ``None``.

        λ-orth's joint forward map ``F̃`` is one: the trainer optimises it
        with the map, adds :meth:`companion_loss` to the loss, contrasts the
        map's outputs with the companion's, and hands it to
        :meth:`from_module` as ``companion``.
        """
        return None

    @classmethod
    def companion_loss(
        cls,
        companion: torch.nn.Module,
        pred: torch.Tensor,
        target: torch.Tensor,
        config: FamilyConfig,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The companion's loss term and the anchors the map's outputs are contrasted with.

        ``pred`` is the map's output for a batch, ``target`` the batch's
        target vectors.  The default (a family without a companion never
        gets here) adds nothing and keeps the targets as anchors.
        """
        return pred.new_zeros(()), target

    @classmethod
    @abstractmethod
    def from_module(
        cls, module: torch.nn.Module, config: FamilyConfig, **extra: Any
    ) -> TrainableAdapter:
        """The trained module as an adapter (``extra``: ``companion``, when the family has one)."""
