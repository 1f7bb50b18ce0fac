"""Upgrades: moving a stored gallery to a new generation, planned, journaled and undoable.

- :mod:`.plan`: :func:`plan` compares ``adapt-queries``, ``forward``,
  ``partial`` and ``reembed`` by measured quality and cost, and recommends one;
- :mod:`.apply`: :func:`apply` runs a strategy as a job journaled in the
  gallery folder (checkpointed chunks, optionally data-parallel with
  accelerate); :func:`resume` continues a killed one;
- :mod:`.options`: :class:`PartialChoice` and :class:`JobOptions`, the values a job is asked with;
- :mod:`.history`: :func:`status`, :func:`rollback`, :func:`finalize`;
- :mod:`.job`, :mod:`.switch`: the journal, and the atomic switch to the new version;
- :mod:`.survey`, :mod:`.quality`, :mod:`.costs`, :mod:`.selection`,
  :mod:`.calibrate`: what a plan stands on (segments, paths, rates, sizes),
  the estimates, the measured rates, which items go first, score calibration.

Example:
    >>> import embedreg.upgrade as up
    >>> up.STRATEGIES
    ('adapt-queries', 'forward', 'partial', 'reembed')
    >>> p = up.plan(reg, "galleries/news", "v3")  # doctest: +SKIP
    >>> up.apply(reg, "galleries/news", "v3", p.recommendation)  # doctest: +SKIP
"""

from __future__ import annotations

from .apply import UpgradeResult, apply, resume
from .history import JobStatus, RollbackResult, finalize, rollback, status
from .options import JobOptions, PartialChoice
from .plan import STRATEGIES, StrategyRow, UpgradePlan, plan
from .quality import Estimate
from .selection import ORDERS

__all__ = [
    "ORDERS",
    "STRATEGIES",
    "Estimate",
    "JobOptions",
    "JobStatus",
    "PartialChoice",
    "RollbackResult",
    "StrategyRow",
    "UpgradePlan",
    "UpgradeResult",
    "apply",
    "finalize",
    "plan",
    "resume",
    "rollback",
    "status",
]
