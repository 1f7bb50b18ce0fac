"""Families trained by gradient descent: what :class:`~embedreg.training.AdapterTrainer` needs.

A gradient family subclasses :class:`TrainableAdapter` and provides

* :meth:`TrainableAdapter.build_module`: a ``torch.nn.Module`` computing the
  map, initialised from the Procrustes solution (``init``, an affine map
  with the optimal bias), so training starts from the best orthogonal map;
* :meth:`TrainableAdapter.module_weight`: the module's linear weight (the
  matrix whose defect ``D`` is logged and, for λ-orth, regularised), or
  ``None``;
* :meth:`TrainableAdapter.penalty`: an extra loss term and the defect it
  measured (λ-orth's ``L_λ``), or ``None``;
* :meth:`TrainableAdapter.from_module`: the trained module back as an
  adapter (numpy tensors, no torch needed to apply it).

The trainer owns the data, the losses of the paper (``L_B``, ``L_F``,
contrastive), the optimiser and early stopping.

Example:
    >>> from embedreg.adapters import family_class
    >>> family_class("lambda-orth").fitting
    'gradient'
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Adapter, AffineMap

if TYPE_CHECKING:
    import torch

    from ..training import TrainConfig


class TrainableAdapter(Adapter):
    """Base class of the families that :class:`~embedreg.training.AdapterTrainer` trains."""

    fitting: ClassVar[str] = "gradient"

    #: Whether the family can train the paper's joint forward (gallery) adapter.
    supports_joint_forward: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def build_module(cls, init: AffineMap, config: TrainConfig) -> torch.nn.Module:
        """A module ``(N, in) → (N, out)`` that starts as the map ``init``."""

    @classmethod
    def module_weight(cls, module: torch.nn.Module) -> torch.Tensor | None:
        """The module's linear weight ``(out, in)`` (for ``D``), or ``None``."""
        return None

    @classmethod
    def penalty(
        cls, module: torch.nn.Module, config: TrainConfig
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """An extra loss term and the defect it measured, or ``None``."""
        return None

    @classmethod
    @abstractmethod
    def from_module(
        cls, module: torch.nn.Module, config: TrainConfig, **extra: Any
    ) -> TrainableAdapter:
        """The trained module as an adapter (``extra``: e.g. the joint gallery map)."""
