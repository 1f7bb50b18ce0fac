"""AdapterTrainer: fit any adapter family to paired embeddings, on GPU or CPU.

Closed-form families (identity, Procrustes, affine) are solved in one step.
Gradient families (λ-orth, low-rank, residual MLP) are trained with Adam on
mini-batches from the Procrustes solution, with the paper's losses::

    L = w_forward·L_F + w_backward·L_B + w_contrastive·L_C + L_λ
    L_B = mean ‖B(x) − y‖²          (x: source vectors, y: target vectors)
    L_F = mean ‖F̃(y) − B(x)‖²       (joint forward map, λ-orth with joint_forward)
    L_C = InfoNCE(B(x), F̃(y) or y)  (no labels: each item's positive is its pair)
        | SupCon(B(x), F̃(y) or y) [+ SupCon(F̃(y), y)]  (labels)
    L_λ = sigmoid(α (D − λ)) · D     (λ-orth; D = ‖WWᵀ − I‖_F)

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

The defaults below were chosen by measurement (``bench/RESULTS.md``).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 16)).astype(np.float32)
    >>> R = np.linalg.qr(rng.standard_normal((16, 16)))[0].astype(np.float32)
    >>> result = AdapterTrainer(TrainConfig(device="cpu", epochs=5)).fit("lambda-orth", x, x @ R.T)
    >>> result.adapter.family, bool(result.adapter.affine().W.shape == (16, 16))
    ('lambda-orth', True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .devices import resolve_device
from .errors import ValidationError

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    from .adapters.base import Adapter
    from .adapters.trainable import TrainableAdapter

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

#: Hyperparameters that only some families use (the others ignore them).
FAMILY_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "affine": ("ridge",),
    "lambda-orth": (
        "lam",
        "lam_per_dim",
        "alpha",
        "w_backward",
        "joint_forward",
        "w_forward",
        "w_contrastive",
        "temperature",
    ),
    "lowrank": ("rank",),
    "mlp": ("hidden",),
}
#: Hyperparameters of the optimisation, used by every gradient family.
SCHEDULE_HYPERPARAMETERS: tuple[str, ...] = (
    "epochs",
    "batch_size",
    "lr",
    "patience",
    "min_delta",
    "validation",
    "max_validation",
    "seed",
)


def auto_batch_size(n_train: int) -> int:
    """The default batch size: the power of two nearest ``n_train / 32``, within [64, 4096].

    About 32 Adam steps per epoch whatever the data size, so small sets
    still take enough steps per epoch and large ones use large batches.

    Example:
        >>> auto_batch_size(1000), auto_batch_size(100_000), auto_batch_size(10**6)
        (64, 4096, 4096)
    """
    target = max(n_train / 32.0, 1.0)
    return int(min(4096, max(64, 2 ** round(math.log2(target)))))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how an adapter is fit (defaults measured, see bench/RESULTS.md).

    Schedule (gradient families):
        epochs: most epochs (early stopping usually ends sooner).
        batch_size: pairs per Adam step; ``None`` picks :func:`auto_batch_size`
            (about 32 steps per epoch, between 64 and 4096 pairs).
        lr: Adam's initial learning rate (halved after each epoch without improvement).
        patience: epochs without improvement before stopping.
        min_delta: relative drop of the validation loss that counts as improvement.
        validation: fraction of the training pairs held back for early stopping.
        max_validation: at most this many validation pairs.
        seed: seeds the validation split, batch order and initialisation.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    λ-orthogonal family:
        lam: λ as an absolute Frobenius radius (the paper's 12 at n = 1024), or
        lam_per_dim: λ per dimension, ``λ = lam_per_dim · √min(in, out)`` (used
            when ``lam`` is ``None``; give ``lam_per_dim=None`` and ``lam=None``
            for λ = ∞, a plain affine map trained by gradient descent).
        alpha: sharpness α of the sigmoid gate ``sigmoid(α (D − λ))``.
        w_backward: weight of ``L_B``.
        joint_forward: also train the joint forward (gallery) map ``F̃``.
        w_forward: weight of ``L_F`` (with ``joint_forward``).
        w_contrastive: weight of the contrastive term (0 turns it off).
        temperature: temperature of InfoNCE / SupCon.

    Other families:
        ridge: relative ridge penalty of the affine family (× mean input variance).
        rank: rank of the low-rank correction.
        hidden: hidden units of the residual MLP.
    """

    epochs: int = 40
    batch_size: int | None = None
    lr: float = 1e-3
    patience: int = 4
    min_delta: float = 1e-3
    validation: float = 0.1
    max_validation: int = 4096
    seed: int = 0
    device: str = "auto"
    lam: float | None = None
    lam_per_dim: float | None = 0.375
    alpha: float = 30.0
    w_backward: float = 1.0
    joint_forward: bool = False
    w_forward: float = 1.0
    w_contrastive: float = 0.0
    temperature: float = 0.05
    ridge: float = 1e-2
    rank: int = 32
    hidden: int = 256

    def __post_init__(self) -> None:
        positive_ints = ("epochs", "batch_size", "patience", "rank", "hidden", "max_validation")
        for name in positive_ints:
            value = getattr(self, name)
            if name == "batch_size" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "alpha", "temperature"):
            if not getattr(self, name) > 0:
                raise ValidationError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("w_backward", "w_forward", "w_contrastive", "ridge", "min_delta"):
            if not getattr(self, name) >= 0:
                raise ValidationError(
                    f"{name} must be zero or positive, got {getattr(self, name)!r}"
                )
        if not 0.0 < self.validation < 1.0:
            raise ValidationError(f"validation must be a fraction in (0, 1), got {self.validation}")
        if self.lam is not None and self.lam_per_dim is not None:
            raise ValidationError(
                "λ given both absolutely (lam) and per dimension (lam_per_dim)",
                "give one of them (lam_per_dim=None with lam)",
            )
        for name in ("lam", "lam_per_dim"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValidationError(f"{name} must be zero or positive, got {value!r}")

    def with_lambda(
        self, *, lam: float | None = None, lam_per_dim: float | None = None
    ) -> TrainConfig:
        """A copy with λ set one way (absolute ``lam`` or ``lam_per_dim``), the other cleared."""
        from dataclasses import replace

        return replace(self, lam=lam, lam_per_dim=lam_per_dim)

    def hyperparameters(self, family: str, fitting: str) -> dict[str, Any]:
        """The settings that matter for ``family`` (recorded in provenance)."""
        names = list(FAMILY_HYPERPARAMETERS.get(family, ()))
        if fitting == "gradient":
            names = list(SCHEDULE_HYPERPARAMETERS) + names
        values = asdict(self)
        return {name: values[name] for name in names}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"unknown training setting(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch measured (passed to callbacks)."""

    epoch: int
    loss: float
    val_loss: float
    val_recall: float
    defect: float | None
    lr: float
    improved: bool
    seconds: float


@dataclass(frozen=True)
class TrainStart:
    """What a training run is about to do (passed to callbacks)."""

    family: str
    fitting: str
    n_train: int
    n_validation: int
    input_dim: int
    output_dim: int
    device: str
    resident: bool
    epochs: int


@dataclass
class TrainResult:
    """The fitted adapter and how it was fitted."""

    adapter: Adapter
    family: str
    device: str
    n_train: int
    n_validation: int
    seconds: float
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    resident: bool = True
    batch_size: int = 0

    @property
    def epochs_run(self) -> int:
        """Epochs actually run."""
        return len(self.history)

    @property
    def pairs_per_second(self) -> float:
        """Training pairs processed per second (epochs × pairs / wall time)."""
        seen = max(self.epochs_run, 1) * self.n_train
        return seen / self.seconds if self.seconds > 0 else 0.0


class TrainerCallback:
    """Hooks into a training run; override what you need.

    Example:
        >>> class Printer(TrainerCallback):
        ...     def on_epoch_end(self, stats):
        ...         print(stats.epoch, round(stats.val_recall, 2))
    """

    def on_train_begin(self, start: TrainStart) -> None:
        """Called once before the first epoch (or before a closed-form fit)."""

    def on_epoch_end(self, stats: EpochStats) -> bool | None:
        """Called after each epoch; return ``True`` to stop training."""
        return None

    def on_train_end(self, result: TrainResult) -> None:
        """Called once with the result."""


def _family(family: str | type[Adapter]) -> type[Adapter]:
    from .adapters.base import family_class

    return family_class(family) if isinstance(family, str) else family


class AdapterTrainer:
    """Fits adapter families to paired vectors; see the module docstring.

    Example:
        >>> trainer = AdapterTrainer(TrainConfig(device="cpu"))
        >>> trainer.config.lr
        0.001
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
        labels: IntArray | None = None,
    ) -> TrainResult:
        """Fit ``family`` so that ``adapter.transform(source) ≈ target`` (rows paired).

        ``labels`` (integer class codes, one per row) enable the supervised
        contrastive term.  Raises :class:`~embedreg.errors.TrainingDataError`
        for unusable data (see :func:`embedreg.pairs.check_pairs`).
        """
        from .pairs import check_pairs, minimum_pairs

        cls = _family(family)
        source = np.ascontiguousarray(source, dtype=np.float32)
        target = np.ascontiguousarray(target, dtype=np.float32)
        needed = (
            1
            if cls.family == "identity"
            else minimum_pairs(source.shape[1] if source.ndim == 2 else 0)
        )
        check_pairs(source, target, min_pairs=needed)
        device = resolve_device(self.config.device)
        if cls.fitting != "gradient":
            return self._fit_closed_form(cls, source, target, device)
        from .adapters.trainable import TrainableAdapter

        if not issubclass(cls, TrainableAdapter):
            raise ValidationError(
                f"family {cls.family!r} says it is gradient-trained but is not a TrainableAdapter"
            )
        return _GradientRun(cls, self.config, self.callbacks, device).run(source, target, labels)

    def _fit_closed_form(
        self, cls: type[Adapter], source: FloatArray, target: FloatArray, device: str
    ) -> TrainResult:
        start = TrainStart(
            cls.family,
            cls.fitting,
            source.shape[0],
            0,
            source.shape[1],
            target.shape[1],
            device,
            True,
            0,
        )
        for cb in self.callbacks:
            cb.on_train_begin(start)
        t0 = time.perf_counter()
        adapter = cls.fit(source, target, self.config)
        result = TrainResult(
            adapter, cls.family, device, source.shape[0], 0, time.perf_counter() - t0
        )
        for cb in self.callbacks:
            cb.on_train_end(result)
        return result


# --- the gradient loop --------------------------------------------------------------


def _fits_on_device(device: str, n_bytes: int) -> bool:
    import torch

    if not device.startswith("cuda"):
        return True
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return n_bytes < free // 2


def _info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    import torch

    logits = a @ b.T / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, targets) + ce(logits.T, targets))


def _supcon(
    a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss of anchors ``a`` against candidates ``b`` (same batch)."""
    logits = a @ b.T / temperature
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]).to(log_prob.dtype)
    loss = -(log_prob * positive).sum(1) / positive.sum(1).clamp(min=1)
    mean: torch.Tensor = loss.mean()
    return mean


class _GradientRun:
    """One training run of a gradient family (state kept off the public trainer)."""

    def __init__(
        self,
        cls: type[TrainableAdapter],
        config: TrainConfig,
        callbacks: list[TrainerCallback],
        device: str,
    ) -> None:
        self.cls = cls
        self.config = config
        self.callbacks = callbacks
        self.device = device

    def _split(self, n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        cfg = self.config
        n_val = min(max(1, round(n * cfg.validation)), cfg.max_validation, n - 1)
        order = np.random.default_rng(cfg.seed).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def run(self, source: FloatArray, target: FloatArray, labels: IntArray | None) -> TrainResult:
        import torch

        from .adapters._linear import moments, procrustes_from_moments
        from .adapters._modules import AffineModule
        from .adapters.base import AffineMap

        cfg, dev = self.config, self.device
        t0 = time.perf_counter()
        train_rows, val_rows = self._split(source.shape[0])
        x_np, y_np = source[train_rows], target[train_rows]
        resident = _fits_on_device(dev, x_np.nbytes + y_np.nbytes)
        store = dev if resident else "cpu"
        x = torch.from_numpy(x_np).to(store)
        y = torch.from_numpy(y_np).to(store)
        if not resident and dev.startswith("cuda"):
            x, y = x.pin_memory(), y.pin_memory()
        lab = torch.from_numpy(labels[train_rows]).to(store) if labels is not None else None
        xv = torch.from_numpy(source[val_rows]).to(dev)
        yv = torch.from_numpy(target[val_rows]).to(dev)

        m = moments(x_np, y_np, dev)
        w0 = procrustes_from_moments(m)
        init = AffineMap(w0.astype(np.float32), (m.mean_y - w0 @ m.mean_x).astype(np.float32))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = self.cls.build_module(init, cfg).to(dev)
        joint = cfg.joint_forward and self.cls.supports_joint_forward
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
        optimizer = torch.optim.Adam(params, lr=cfg.lr)
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
        n = x.shape[0]
        bs = min(cfg.batch_size or auto_batch_size(n), n)
        lr = cfg.lr
        history: list[EpochStats] = []
        best: tuple[float, float] = (-1.0, math.inf)
        best_state = self._snapshot(module, gallery)
        best_epoch, bad_epochs, stopped = 0, 0, False
        for epoch in range(1, cfg.epochs + 1):
            te = time.perf_counter()
            module.train()
            perm = torch.randperm(n, generator=generator)
            if resident:
                perm = perm.to(dev)
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
            val_loss, val_recall, d = self._validate(module, xv, yv)
            improved = val_recall > best[0] or (
                val_recall >= best[0] and val_loss < best[1] * (1.0 - cfg.min_delta)
            )
            if improved:
                best = (val_recall, val_loss)
                best_state = self._snapshot(module, gallery)
                best_epoch, bad_epochs = epoch, 0
            else:
                bad_epochs += 1
            stats = EpochStats(
                epoch,
                float(total) / n,
                val_loss,
                val_recall,
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
            from .adapters._modules import to_numpy

            extra["gallery"] = AffineMap(to_numpy(gallery.weight), to_numpy(gallery.bias))
        adapter = self.cls.from_module(module, cfg, **extra)
        result = TrainResult(
            adapter,
            self.cls.family,
            dev,
            len(train_rows),
            len(val_rows),
            time.perf_counter() - t0,
            history,
            best_epoch,
            stopped,
            resident,
            bs,
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

        cfg = self.config
        pred = module(xb)
        loss: torch.Tensor = cfg.w_backward * ((pred - yb) ** 2).sum(1).mean()
        anchor = yb
        if gallery is not None:
            fwd = gallery(yb)
            loss = loss + cfg.w_forward * ((fwd - pred) ** 2).sum(1).mean()
            anchor = fwd
        if cfg.w_contrastive > 0:
            norm = torch.nn.functional.normalize
            p, a = norm(pred, dim=1), norm(anchor, dim=1)
            if lb is None:
                contrast = _info_nce(p, a, cfg.temperature)
            else:
                contrast = _supcon(p, a, lb, cfg.temperature)
                if gallery is not None:
                    contrast = contrast + _supcon(a, norm(yb, dim=1), lb, cfg.temperature)
            loss = loss + cfg.w_contrastive * contrast
        pen = self.cls.penalty(module, cfg)
        if pen is not None:
            loss = loss + pen[0]
        return loss

    def _validate(
        self, module: torch.nn.Module, xv: torch.Tensor, yv: torch.Tensor
    ) -> tuple[float, float, float | None]:
        import torch

        module.eval()
        with torch.no_grad():
            pred = module(xv)
            val_loss = float(((pred - yv) ** 2).sum(1).mean())
            p = torch.nn.functional.normalize(pred, dim=1)
            g = torch.nn.functional.normalize(yv, dim=1)
            sims = p @ g.T
            recall = float((sims.argmax(1) == torch.arange(len(g), device=g.device)).float().mean())
            weight = self.cls.module_weight(module)
            d = None
            if weight is not None:
                from .adapters._modules import defect_torch

                d = float(defect_torch(weight.double()))
        return val_loss, recall, d

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


def progress_callback(fn: Callable[[EpochStats], None]) -> TrainerCallback:
    """A callback that calls ``fn(stats)`` after each epoch (for progress bars)."""

    class _Fn(TrainerCallback):
        def on_epoch_end(self, stats: EpochStats) -> bool | None:
            fn(stats)
            return None

    return _Fn()
