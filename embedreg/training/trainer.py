"""AdapterTrainer: fit any adapter family to paired embeddings, on GPU or CPU.

Closed-form families (identity, Procrustes, affine) are solved in one step.
Gradient families (λ-orth, low-rank, residual MLP, and any plugin deriving
from :class:`~embedreg.adapters.TrainableAdapter`) are trained with Adam on
mini-batches from the Procrustes solution, with the paper's losses::

    L = w_forward·L_F + w_backward·L_B + w_contrastive·L_C + penalty
    L_B = mean ‖B(x) − y‖²          (x: source vectors, y: target vectors)
    L_F = mean ‖F̃(y) − B(x)‖²       (joint forward map, λ-orth with joint_forward)
    L_C = InfoNCE(B(x), F̃(y) or y)  (no labels: each item's positive is its pair)
        | SupCon(B(x), F̃(y) or y) [+ SupCon(F̃(y), y)]  (labels)
    penalty: the family's own (λ-orth: L_λ = sigmoid(α (D − λ)) · D, D = ‖WWᵀ − I‖_F)

The weights come from the family's config (``options``); the schedule
(:class:`~embedreg.training.TrainConfig`) is shared by every family.

Data stay on the device as one tensor per side when they fit (on CUDA:
under half the free memory), else they stay in host memory and stream to
the device batch by batch.  A validation part of the training pairs
(``validation``, at most ``max_validation`` pairs) is held back for early
stopping: after each epoch the trainer measures its alignment loss and its
recall@1 (each validation item's own pair among all validation targets);
an epoch *improves* when recall@1 rises, or stays level while the loss drops
by more than ``min_delta`` (relative).  Each epoch without improvement
halves the learning rate; ``patience`` of them in a row stop training and
the best epoch's weights are kept.  Everything is seeded: the same data,
config and device give the same adapter.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 16)).astype(np.float32)
    >>> R = np.linalg.qr(rng.standard_normal((16, 16)))[0].astype(np.float32)
    >>> trainer = AdapterTrainer(TrainConfig(device="cpu", epochs=5))
    >>> result = trainer.fit("lambda-orth", x, x @ R.T, options={"lam_per_dim": 0.25})
    >>> result.adapter.family, result.options.lam_per_dim
    ('lambda-orth', 0.25)
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import (
    Adapter,
    FamilyConfig,
    TrainableAdapter,
    family_class,
)
from ..data.labels import label_codes
from ..data.pairs import check_pairs
from ..devices import select_device
from ..errors import BrokenPlugin
from .callbacks import TrainerCallback, TrainResult, TrainStart
from .config import TrainConfig
from .gradient import GradientRun

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = ["AdapterTrainer", "label_codes"]


class AdapterTrainer:
    """Fits adapter families to paired vectors; see the module docstring.

    Args:
        config: the schedule (epochs, batch size, learning rate, early
            stopping, device, seed); defaults as measured.
        callbacks: hooks that see the run (progress displays).
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        *,
        callbacks: Sequence[TrainerCallback] = (),
    ) -> None:
        self.config = config or TrainConfig()
        self.callbacks = list(callbacks)

    def fit(
        self,
        family: str | type[Adapter],
        source: FloatArray,
        target: FloatArray,
        labels: Any = None,
        *,
        options: FamilyConfig | Mapping[str, Any] | None = None,
    ) -> TrainResult:
        """Fit ``family`` so that ``adapter.transform(source) ≈ target`` (rows paired).

        Args:
            family: a family name (an ``embedreg.adapters`` entry point) or class.
            source, target: ``(N, in)`` and ``(N, out)`` paired float arrays.
            labels: one class label per row (strings, integers or any hashable
                values; see :func:`embedreg.data.labels.label_codes`), or ``None``;
                labels enable the supervised contrastive term and CMC early stopping.
            options: the family's hyperparameters: its config, a mapping of
                ``key: value`` (strings are parsed), or ``None`` for its defaults.

        Raises:
            TrainingDataError: unusable data (see :func:`embedreg.data.pairs.check_pairs`),
                or labels that are not one class label per pair (naming the shape expected).
            ValidationError: options the family does not have, or bad values.
        """
        cls = family_class(family) if isinstance(family, str) else family
        config = cls.make_config(options)
        source = np.ascontiguousarray(source, dtype=np.float32)
        target = np.ascontiguousarray(target, dtype=np.float32)
        check_pairs(
            source,
            target,
            min_pairs=cls.min_train_pairs(source.shape[1] if source.ndim == 2 else 0),
        )
        codes = label_codes(labels, source.shape[0])
        device = select_device(self.config.device)
        if cls.fitting != "gradient":
            return self._fit_closed_form(cls, config, source, target, device)
        if not issubclass(cls, TrainableAdapter):
            raise BrokenPlugin(
                "adapter family",
                cls.family,
                "embedreg.adapters",
                "it says it is gradient-trained but is not a TrainableAdapter",
            )
        run = GradientRun(cls, self.config, config, self.callbacks, device)
        return run.run(source, target, codes)

    def _fit_closed_form(
        self,
        cls: type[Adapter],
        options: FamilyConfig,
        source: FloatArray,
        target: FloatArray,
        device: str,
    ) -> TrainResult:
        n, d_in, d_out = source.shape[0], source.shape[1], target.shape[1]
        start = TrainStart(
            family=cls.family,
            fitting=cls.fitting,
            n_train=n,
            n_validation=0,
            input_dim=d_in,
            output_dim=d_out,
            device=device,
            resident=True,
            epochs=0,
        )
        for cb in self.callbacks:
            cb.on_train_begin(start)
        t0 = time.perf_counter()
        takes_device = _accepts(cls.fit, "device")
        adapter = (
            cls.fit(source, target, options, device=device)
            if takes_device
            else cls.fit(source, target, options)  # a plugin written without the device argument
        )
        result = TrainResult(
            adapter=adapter,
            family=cls.family,
            device=device,
            n_train=n,
            n_validation=0,
            seconds=time.perf_counter() - t0,
            options=options,
        )
        for cb in self.callbacks:
            cb.on_train_end(result)
        return result


def _accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or any keyword)."""
    params = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
