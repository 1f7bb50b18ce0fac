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
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import (
    Adapter,
    AffineMap,
    FamilyConfig,
    GradientConfig,
    TrainableAdapter,
    family_class,
)
from ..adapters.linear import moments, procrustes_from_moments
from ..data.pairs import check_pairs
from ..devices import select_device
from ..errors import BrokenPlugin, TrainingDataError, ValidationError
from .callbacks import EpochStats, TrainerCallback, TrainResult, TrainStart
from .config import TrainConfig, auto_batch_size, auto_learning_rate

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = ["AdapterTrainer", "label_codes"]


def label_codes(labels: Any, n: int) -> IntArray | None:
    """Class labels (strings or integers, one per pair) as integer codes; ``None`` stays ``None``.

    Raises:
        TrainingDataError: labels of another length, not one-dimensional, or
            of a type that is no class (floats, booleans).

    Example:
        >>> label_codes(["b", "a", "b"], 3).tolist()
        [1, 0, 1]
    """
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TrainingDataError(
            f"labels must be one per pair: got shape {arr.shape} for {n} pairs",
            "give a flat sequence of class labels in the order of the pairs",
        )
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "UO":
        raise TrainingDataError(
            f"labels must be class names or integer codes, got {arr.dtype} values",
            "give strings or integers",
        )
    _, codes = np.unique(arr.astype(str), return_inverse=True)
    return codes.astype(np.int64)


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
            labels: one class label per row (strings or integers), or ``None``;
                labels enable the supervised contrastive term and CMC early stopping.
            options: the family's hyperparameters: its config, a mapping of
                ``key: value`` (strings are parsed), or ``None`` for its defaults.

        Raises:
            TrainingDataError: unusable data (see :func:`embedreg.data.pairs.check_pairs`).
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
        run = _GradientRun(cls, self.config, config, self.callbacks, device)
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
        start = TrainStart(cls.family, cls.fitting, n, 0, d_in, d_out, device, True, 0)
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
            adapter, cls.family, device, n, 0, time.perf_counter() - t0, options=options
        )
        for cb in self.callbacks:
            cb.on_train_end(result)
        return result


def _accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or any keyword)."""
    params = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


# --- the gradient loop --------------------------------------------------------------


def _fits_on_device(device: str, n_bytes: int) -> bool:
    import torch

    if not device.startswith("cuda"):
        return True
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return n_bytes < free // 2


class _GradientRun:
    """One training run of a gradient family (state kept off the public trainer)."""

    def __init__(
        self,
        cls: type[TrainableAdapter],
        config: TrainConfig,
        options: FamilyConfig,
        callbacks: list[TrainerCallback],
        device: str,
    ) -> None:
        self.cls = cls
        self.config = config
        self.options = options
        self.callbacks = callbacks
        self.device = device

    def _split(self, n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        cfg = self.config
        n_val = min(max(1, round(n * cfg.validation)), cfg.max_validation, n - 1)
        order = np.random.default_rng(cfg.seed).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def run(self, source: FloatArray, target: FloatArray, labels: IntArray | None) -> TrainResult:
        import torch

        from ..adapters.torch_modules import AffineModule

        cfg, dev = self.config, self.device
        has_labels = labels is not None
        opts = self.options
        if isinstance(opts, GradientConfig):
            opts = self.options = opts.resolved(labels=has_labels)
        # the loss weights: the family's own when its config has them, else the defaults
        self.loss = opts if isinstance(opts, GradientConfig) else GradientConfig()
        self.loss = self.loss.resolved(labels=has_labels)
        t0 = time.perf_counter()
        train_rows, val_rows = self._split(source.shape[0])
        # One copy of the data where it lives (no train/validation copies): all of it on
        # the device when it fits, else in host memory, batches gathered and moved.
        resident = _fits_on_device(dev, source.nbytes + target.nbytes)
        store = dev if resident else "cpu"
        x = torch.from_numpy(source).to(store)
        y = torch.from_numpy(target).to(store)
        lab = torch.from_numpy(labels).to(store) if labels is not None else None
        rows = torch.from_numpy(train_rows).to(store)
        val = torch.from_numpy(val_rows).to(store)
        xv, yv = x[val].to(dev), y[val].to(dev)
        lv = lab[val].to(dev) if lab is not None else None
        monitor = cfg.monitor
        if monitor == "auto":
            monitor = "cmc" if labels is not None else "recall"
        if monitor == "cmc" and lv is None:
            raise ValidationError("monitor 'cmc' needs labelled pairs", "use monitor='recall'")

        m = moments(x, y, dev, rows=rows)
        w0 = procrustes_from_moments(m)
        init = AffineMap(w0.astype(np.float32), (m.mean_y - w0 @ m.mean_x).astype(np.float32))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = self.cls.build_module(init, opts).to(dev)
        joint = self.loss.joint_forward_weight() is not None
        out_dim = target.shape[1]
        gallery = (
            AffineModule(
                AffineMap(np.eye(out_dim, dtype=np.float32), np.zeros(out_dim, np.float32))
            ).to(dev)
            if joint
            else None
        )
        params = list(module.parameters()) + (
            list(gallery.parameters()) if gallery is not None else []
        )
        lr = cfg.lr or auto_learning_rate(max(p.numel() for p in params))
        optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, cfg.beta2))
        start = TrainStart(
            self.cls.family,
            "gradient",
            len(train_rows),
            len(val_rows),
            source.shape[1],
            out_dim,
            dev,
            resident,
            cfg.epochs,
        )
        for cb in self.callbacks:
            cb.on_train_begin(start)

        generator = torch.Generator().manual_seed(cfg.seed)
        n = len(train_rows)
        bs = min(cfg.batch_size or auto_batch_size(n), n)
        cfg = self.config = replace(cfg, lr=lr, batch_size=bs)  # what was used, for provenance
        history: list[EpochStats] = []
        best: tuple[float, float] = (-1.0, math.inf)
        best_state = self._snapshot(module, gallery)
        best_epoch, bad_epochs, stopped = 0, 0, False
        for epoch in range(1, cfg.epochs + 1):
            te = time.perf_counter()
            module.train()
            perm = rows[torch.randperm(n, generator=generator).to(store)]
            total = torch.zeros((), device=dev)
            for s in range(0, n, bs):
                idx = perm[s : s + bs]
                xb = x[idx].to(dev, non_blocking=True)
                yb = y[idx].to(dev, non_blocking=True)
                lb = lab[idx].to(dev, non_blocking=True) if lab is not None else None
                loss = self._loss(module, gallery, xb, yb, lb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += loss.detach() * xb.shape[0]
            val_loss, val_recall, val_cmc, d = self._validate(module, xv, yv, lv)
            score = {"recall": val_recall, "cmc": val_cmc, "loss": 0.0}[monitor] or 0.0
            improved = score > best[0] or (
                score >= best[0] and val_loss < best[1] * (1.0 - cfg.min_delta)
            )
            if improved:
                best = (score, val_loss)
                best_state = self._snapshot(module, gallery)
                best_epoch, bad_epochs = epoch, 0
            else:
                bad_epochs += 1
            stats = EpochStats(
                epoch,
                float(total) / n,
                val_loss,
                val_recall,
                val_cmc,
                d,
                lr,
                improved,
                time.perf_counter() - te,
            )
            history.append(stats)
            stop_requested = any(cb.on_epoch_end(stats) for cb in self.callbacks)
            if bad_epochs >= cfg.patience or stop_requested:
                stopped = True
                break
            if not improved:
                lr /= 2.0
                for group in optimizer.param_groups:
                    group["lr"] = lr

        self._restore(module, gallery, best_state)
        extra = {}
        if gallery is not None:
            from ..adapters.torch_modules import to_numpy

            extra["gallery"] = AffineMap(to_numpy(gallery.weight), to_numpy(gallery.bias))
        adapter = self.cls.from_module(module, opts, **extra)
        result = TrainResult(
            adapter,
            self.cls.family,
            dev,
            len(train_rows),
            len(val_rows),
            time.perf_counter() - t0,
            opts,
            history,
            best_epoch,
            stopped,
            resident,
            bs,
            cfg,
        )
        for cb in self.callbacks:
            cb.on_train_end(result)
        return result

    def _loss(
        self,
        module: torch.nn.Module,
        gallery: torch.nn.Module | None,
        xb: torch.Tensor,
        yb: torch.Tensor,
        lb: torch.Tensor | None,
    ) -> torch.Tensor:
        import torch

        from .losses import info_nce, supcon

        opts = self.loss
        pred = module(xb)
        loss: torch.Tensor = opts.w_backward * ((pred - yb) ** 2).sum(1).mean()
        anchor = yb
        w_forward = opts.joint_forward_weight()
        if gallery is not None and w_forward is not None:
            fwd = gallery(yb)
            loss = loss + w_forward * ((fwd - pred) ** 2).sum(1).mean()
            anchor = fwd
        if opts.w_contrastive:
            norm = torch.nn.functional.normalize
            p, a = norm(pred, dim=1), norm(anchor, dim=1)
            if lb is None:
                contrast = info_nce(p, a, opts.temperature)
            else:
                contrast = supcon(p, a, lb, opts.temperature)
                if gallery is not None:
                    contrast = contrast + supcon(a, norm(yb, dim=1), lb, opts.temperature)
            loss = loss + opts.w_contrastive * contrast
        pen = self.cls.penalty(module, self.options)
        if pen is not None:
            loss = loss + pen[0]
        return loss

    def _validate(
        self,
        module: torch.nn.Module,
        xv: torch.Tensor,
        yv: torch.Tensor,
        lv: torch.Tensor | None,
    ) -> tuple[float, float, float | None, float | None]:
        """Validation loss, own-pair recall@1, CMC top-1 (labels, leave-one-out) and D."""
        import torch

        module.eval()
        with torch.no_grad():
            pred = module(xv)
            val_loss = float(((pred - yv) ** 2).sum(1).mean())
            p = torch.nn.functional.normalize(pred, dim=1)
            g = torch.nn.functional.normalize(yv, dim=1)
            sims = p @ g.T
            rows = torch.arange(len(g), device=g.device)
            recall = float((sims.argmax(1) == rows).float().mean())
            cmc = None
            if lv is not None:
                sims[rows, rows] = -torch.inf
                cmc = float((lv[sims.argmax(1)] == lv).float().mean())
            weight = self.cls.module_weight(module)
            d = None
            if weight is not None:
                from ..adapters.torch_modules import defect_torch

                d = float(defect_torch(weight.detach().cpu().double()))  # MPS has no float64
        return val_loss, recall, cmc, d

    @staticmethod
    def _snapshot(
        module: torch.nn.Module, gallery: torch.nn.Module | None
    ) -> list[dict[str, torch.Tensor]]:
        mods = [module] + ([gallery] if gallery is not None else [])
        return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in mods]

    @staticmethod
    def _restore(
        module: torch.nn.Module,
        gallery: torch.nn.Module | None,
        state: list[dict[str, torch.Tensor]],
    ) -> None:
        module.load_state_dict(state[0])
        if gallery is not None:
            gallery.load_state_dict(state[1])
