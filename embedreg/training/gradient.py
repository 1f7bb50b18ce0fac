"""The Adam loop behind every gradient family: batches, losses, validation, early stopping, refit.

:class:`~embedreg.training.AdapterTrainer` hands a gradient family here.  A
validation part of the training pairs (``TrainConfig.validation``, at most
``max_validation``) is held back; after each epoch the loop measures on it
the alignment loss, own-pair recall@1 and, with labels, CMC top-1 and mAP
(leave-one-out), and follows the figure ``TrainConfig.monitor`` names:

* ``cmc`` (with labels) and ``recall`` (without) are what the criterion and
  the routing use, but on a few hundred validation pairs they move in steps of
  one query and stop training on noise;
* ``map`` averages over every same-class item of the ranking, so it moves
  smoothly with the map's quality (``auto`` follows it when the pairs carry
  labels, ``recall`` when they do not; ``bench/RESULTS.md`` measures both);
* ``loss`` follows the alignment loss alone.

An epoch *improves* when the figure rises, or stays level while the loss drops
by more than ``min_delta`` (relative).  Each epoch without improvement halves
the learning rate; ``patience`` of them in a row stop training and the best
epoch's weights are kept.  With ``TrainConfig.refit`` the run is then done
again on *all* the training pairs (validation part included) for the best
epoch count, with the same learning-rate schedule, so no pair is lost to
choosing when to stop.

Example:
    >>> GradientRun.__name__
    'GradientRun'
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import AffineMap, FamilyConfig, GradientConfig, TrainableAdapter
from ..adapters.linear import moments, procrustes_from_moments
from ..errors import ValidationError
from .callbacks import EpochStats, TrainerCallback, TrainResult, TrainStart
from .config import TrainConfig, auto_batch_size, auto_learning_rate

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = ["GradientRun"]

#: Held while a module is initialised from torch's global generator, re-seeded
#: for the purpose: runs in parallel threads (``auto -o workers=N``) take turns.
_SEEDING = threading.Lock()


def _fits_on_device(device: str, n_bytes: int) -> bool:
    import torch

    if not device.startswith("cuda"):
        return True
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return n_bytes < free // 2


@dataclass
class _Data:
    """The pairs where they live (device or host) and the rows of each part."""

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor | None
    store: str


@dataclass
class _Model:
    """The module being trained, the family's companion module (if any), and their optimiser."""

    module: torch.nn.Module
    companion: torch.nn.Module | None
    optimizer: torch.optim.Optimizer


class GradientRun:
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

    def _monitor(self, has_labels: bool) -> str:
        monitor = self.config.monitor
        if monitor == "auto":
            monitor = "map" if has_labels else "recall"
        if monitor in ("cmc", "map") and not has_labels:
            raise ValidationError(
                f"monitor {monitor!r} needs labelled pairs", "use monitor='recall'"
            )
        return monitor

    def _build(self, data: _Data, rows: torch.Tensor, out_dim: int, lr: float | None) -> _Model:
        """The module started from the (centred, if asked) Procrustes map of ``rows``."""
        import torch

        cfg, dev, opts = self.config, self.device, self.options
        m = moments(data.x, data.y, dev, rows=rows)
        w0 = procrustes_from_moments(m, center=self.loss.center)
        init = AffineMap(w0.astype(np.float32), (m.mean_y - w0 @ m.mean_x).astype(np.float32))
        with _SEEDING, torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = self.cls.build_module(init, opts).to(dev)
        companion = self.cls.companion_module(out_dim, opts)
        if companion is not None:
            companion = companion.to(dev)
        params = list(module.parameters()) + (
            list(companion.parameters()) if companion is not None else []
        )
        rate = lr or cfg.lr or auto_learning_rate(max(p.numel() for p in params))
        optimizer = torch.optim.Adam(params, lr=rate, betas=(0.9, cfg.beta2))
        return _Model(module, companion, optimizer)

    def run(self, source: FloatArray, target: FloatArray, labels: IntArray | None) -> TrainResult:
        import torch

        cfg, dev = self.config, self.device
        has_labels = labels is not None
        opts = self.options
        if isinstance(opts, GradientConfig):
            opts = self.options = opts.resolved(labels=has_labels)
        # the loss weights: the family's own when its config has them, else the defaults
        self.loss = opts if isinstance(opts, GradientConfig) else GradientConfig()
        self.loss = self.loss.resolved(labels=has_labels)
        monitor = self._monitor(has_labels)
        t0 = time.perf_counter()
        train_rows, val_rows = self._split(source.shape[0])
        # One copy of the data where it lives (no train/validation copies): all of it on
        # the device when it fits, else in host memory, batches gathered and moved.
        resident = _fits_on_device(dev, source.nbytes + target.nbytes)
        store = dev if resident else "cpu"
        data = _Data(
            torch.from_numpy(source).to(store),
            torch.from_numpy(target).to(store),
            torch.from_numpy(labels).to(store) if labels is not None else None,
            store,
        )
        rows = torch.from_numpy(train_rows).to(store)
        val = torch.from_numpy(val_rows).to(store)
        xv, yv = data.x[val].to(dev), data.y[val].to(dev)
        lv = data.labels[val].to(dev) if data.labels is not None else None
        out_dim = target.shape[1]
        model = self._build(data, rows, out_dim, None)
        lr = float(model.optimizer.param_groups[0]["lr"])
        start = TrainStart(
            family=self.cls.family,
            fitting="gradient",
            n_train=len(train_rows),
            n_validation=len(val_rows),
            input_dim=source.shape[1],
            output_dim=out_dim,
            device=dev,
            resident=resident,
            epochs=cfg.epochs,
        )
        for cb in self.callbacks:
            cb.on_train_begin(start)

        generator = torch.Generator().manual_seed(cfg.seed)
        bs = min(cfg.batch_size or auto_batch_size(len(train_rows)), len(train_rows))
        cfg = self.config = replace(cfg, lr=lr, batch_size=bs)  # what was used, for provenance
        history: list[EpochStats] = []
        best: tuple[float, float] = (-1.0, math.inf)
        best_state = self._snapshot(model)
        best_epoch, bad_epochs, stopped = 0, 0, False
        for epoch in range(1, cfg.epochs + 1):
            te = time.perf_counter()
            loss = self._epoch(model, data, rows, bs, generator)
            val_loss, val_recall, val_cmc, val_map, d = self._validate(model.module, xv, yv, lv)
            figure = {"recall": val_recall, "cmc": val_cmc, "map": val_map, "loss": 0.0}[monitor]
            score = figure or 0.0
            improved = score > best[0] or (
                score >= best[0] and val_loss < best[1] * (1.0 - cfg.min_delta)
            )
            if improved:
                best = (score, val_loss)
                best_state = self._snapshot(model)
                best_epoch, bad_epochs = epoch, 0
            else:
                bad_epochs += 1
            stats = EpochStats(
                epoch=epoch,
                loss=loss / len(train_rows),
                val_loss=val_loss,
                val_recall=val_recall,
                val_cmc=val_cmc,
                defect=d,
                lr=lr,
                improved=improved,
                seconds=time.perf_counter() - te,
                val_map=val_map,
            )
            history.append(stats)
            stop_requested = any(cb.on_epoch_end(stats) for cb in self.callbacks)
            if bad_epochs >= cfg.patience or stop_requested:
                stopped = True
                break
            if not improved:
                lr /= 2.0
                for group in model.optimizer.param_groups:
                    group["lr"] = lr

        self._restore(model, best_state)
        n_used = len(train_rows)
        if cfg.refit and best_epoch > 0:
            everything = torch.arange(source.shape[0]).to(store)
            model = self._refit(data, everything, out_dim, bs, history[:best_epoch])
            n_used = source.shape[0]
        extra = {} if model.companion is None else {"companion": model.companion}
        adapter = self.cls.from_module(model.module, opts, **extra)
        result = TrainResult(
            adapter=adapter,
            family=self.cls.family,
            device=dev,
            n_train=n_used,
            n_validation=len(val_rows),
            seconds=time.perf_counter() - t0,
            options=opts,
            history=history,
            best_epoch=best_epoch,
            stopped_early=stopped,
            resident=resident,
            batch_size=bs,
            config=cfg,
        )
        for cb in self.callbacks:
            cb.on_train_end(result)
        return result

    def _refit(
        self,
        data: _Data,
        rows: torch.Tensor,
        out_dim: int,
        bs: int,
        schedule: list[EpochStats],
    ) -> _Model:
        """Train again on ``rows`` for as many epochs as were best, with the same rates."""
        import torch

        model = self._build(data, rows, out_dim, schedule[0].lr)
        generator = torch.Generator().manual_seed(self.config.seed)
        for stats in schedule:
            for group in model.optimizer.param_groups:
                group["lr"] = stats.lr
            self._epoch(model, data, rows, bs, generator)
        return model

    def _epoch(
        self,
        model: _Model,
        data: _Data,
        rows: torch.Tensor,
        bs: int,
        generator: torch.Generator,
    ) -> float:
        """One pass over ``rows`` in shuffled batches; the summed training loss."""
        import torch

        dev = self.device
        model.module.train()
        n = len(rows)
        perm = rows[torch.randperm(n, generator=generator).to(data.store)]
        total = torch.zeros((), device=dev)
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            xb = data.x[idx].to(dev, non_blocking=True)
            yb = data.y[idx].to(dev, non_blocking=True)
            lb = data.labels[idx].to(dev, non_blocking=True) if data.labels is not None else None
            loss = self._loss(model.module, model.companion, xb, yb, lb)
            model.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            model.optimizer.step()
            total += loss.detach() * xb.shape[0]
        return float(total)

    def _loss(
        self,
        module: torch.nn.Module,
        companion: torch.nn.Module | None,
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
        if companion is not None:
            extra, anchor = self.cls.companion_loss(companion, pred, yb, self.options)
            loss = loss + extra
        if opts.w_contrastive:
            norm = torch.nn.functional.normalize
            p, a = norm(pred, dim=1), norm(anchor, dim=1)
            if lb is None:
                contrast = info_nce(p, a, opts.temperature)
            else:
                contrast = supcon(p, a, lb, opts.temperature)
                if companion is not None:
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
    ) -> tuple[float, float, float | None, float | None, float | None]:
        """Validation loss, own-pair recall@1, CMC top-1 and mAP (labels, leave-one-out), D."""
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
            cmc = ap = None
            if lv is not None:
                sims[rows, rows] = -torch.inf
                cmc = float((lv[sims.argmax(1)] == lv).float().mean())
                ap = _mean_average_precision(sims, lv)
            weight = self.cls.module_weight(module)
            d = None
            if weight is not None:
                from ..adapters.torch_modules import defect_torch

                d = float(defect_torch(weight.detach().cpu().double()))  # MPS has no float64
        return val_loss, recall, cmc, ap, d

    @staticmethod
    def _snapshot(model: _Model) -> list[dict[str, torch.Tensor]]:
        mods = [model.module] + ([model.companion] if model.companion is not None else [])
        return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in mods]

    @staticmethod
    def _restore(model: _Model, state: list[dict[str, Any]]) -> None:
        model.module.load_state_dict(state[0])
        if model.companion is not None:
            model.companion.load_state_dict(state[1])


def _mean_average_precision(sims: torch.Tensor, labels: torch.Tensor) -> float:
    """mAP of each row's ranking of the columns (self already at ``-inf``), by label."""
    import torch

    n = len(labels)
    order = sims.argsort(dim=1, descending=True)[:, : n - 1]  # the query itself ranks last
    hits = (labels[order] == labels[:, None]).float()
    ranks = torch.arange(1, n, device=sims.device, dtype=hits.dtype)
    precision = hits.cumsum(1) / ranks
    relevant = hits.sum(1)
    ap = (precision * hits).sum(1) / relevant.clamp(min=1)
    return float(ap[relevant > 0].mean()) if bool((relevant > 0).any()) else 0.0
