"""The callback types long operations take, each named once.

- :data:`Progress`: ``progress(done, total)``, items finished so far and the
  total when known (one count: embedding a file, re-embedding a gallery);
- :data:`NamedProgress`: ``progress(name, done, total)``, one count per named
  part (each generation embedding the same items);
- :data:`StageFn`: ``on_stage(text)``, a short line as each stage starts.

Example:
    >>> seen: list[str] = []
    >>> on_stage: StageFn = seen.append
    >>> on_stage("fitting procrustes")
    >>> seen
    ['fitting procrustes']
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["NamedProgress", "Progress", "StageFn"]

#: ``progress(done, total)``: items finished so far, and the total when known.
Progress = Callable[[int, "int | None"], None]

#: ``progress(name, done, total)``: one count per named part (a generation, a role).
NamedProgress = Callable[[str, int, "int | None"], None]

#: ``on_stage(text)``: a short description as each stage of an operation starts.
StageFn = Callable[[str], None]
