"""The contrastive terms of the training loss (torch; imported only while training).

``L_C`` of ``method.md``: InfoNCE without labels (each item's positive is its
own pair), supervised contrastive (SupCon) with labels.

Example:
    >>> import torch
    >>> a = torch.nn.functional.normalize(torch.eye(4), dim=1)
    >>> round(float(info_nce(a, a, 0.1)), 4)
    0.0001
"""

from __future__ import annotations

import torch

__all__ = ["info_nce", "supcon"]


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of rows ``a`` against rows ``b`` (row ``i`` of each is a pair)."""
    logits = a @ b.T / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, targets) + ce(logits.T, targets))


def supcon(
    a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss of anchors ``a`` against candidates ``b`` (same batch)."""
    logits = a @ b.T / temperature
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]).to(log_prob.dtype)
    loss = -(log_prob * positive).sum(1) / positive.sum(1).clamp(min=1)
    mean: torch.Tensor = loss.mean()
    return mean
