"""The data an adapter is trained on: paired embeddings from files or texts, split reproducibly.

``embedreg adapter train|eval|compare`` take either ``--pairs NEW_FILE
OLD_FILE`` (two embeddings files of the same items) or ``--texts INPUT``
(raw items, embedded with both generations and cached);
:func:`training_pairs` is that choice for Python callers too.

**Roles.**  With texts, both generations embed the items in one role (the
recipe's query or document prefix).  A backward adapter maps *queries* of the
new generation, so it trains on the query role; a forward adapter maps
*gallery items* of the old one, so it trains on the document role
(:func:`default_role`).

Example:
    >>> default_role("backward"), default_role("forward")
    ('query', 'document')
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..data.pairs import PairedEmbeddings, load_pairs, minimum_pairs
from ..errors import ValidationError
from ..models.embed import CachedFn, PairProgress, embed_pairs
from ..registry import Registry, RegistryDocument

__all__ = [
    "DEFAULT_HELDOUT",
    "DIRECTION_CHOICES",
    "check_order",
    "default_role",
    "directions",
    "split_pairs",
    "training_pairs",
]

#: Values of ``direction``.
DIRECTION_CHOICES: tuple[str, ...] = ("backward", "forward", "both")
#: Default fraction of the pairs kept out of training and used for the figures.
DEFAULT_HELDOUT = 0.2


def directions(direction: str) -> list[str]:
    """``backward``/``forward`` as a list; ``both`` as both."""
    if direction not in DIRECTION_CHOICES:
        raise ValidationError(
            f"direction must be one of {', '.join(DIRECTION_CHOICES)}, got {direction!r}"
        )
    return ["backward", "forward"] if direction == "both" else [direction]


def default_role(direction: str) -> str:
    """The role inputs are embedded in for an adapter of ``direction`` (see the module docstring)."""
    directions(direction)
    return "document" if direction == "forward" else "query"


def check_order(doc: RegistryDocument, new: str, old: str) -> None:
    """Refuse one generation twice, or a ``new`` that is an ancestor of ``old`` (given the wrong way).

    Raises:
        ValidationError: with the command that has them the right way round.
    """
    if new == old:
        raise ValidationError(f"an adapter needs two different generations, got {new!r} twice")
    seen = doc.generations[old]
    while seen.parent is not None:
        if seen.parent == new:
            raise ValidationError(
                f"generation {new!r} is an ancestor of {old!r}, but was given as the new one",
                f"give the newer generation first: 'embedreg adapter train {old} {new}' "
                "(add --direction forward for an old → new adapter)",
            )
        seen = doc.generations[seen.parent]


def training_pairs(
    registry: Registry,
    new: str,
    old: str,
    *,
    pairs: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    texts: str | os.PathLike[str] | None = None,
    direction: str = "backward",
    role: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    use_cache: bool = True,
    progress: PairProgress | None = None,
    on_cached: CachedFn | None = None,
    ordered: bool = True,
) -> PairedEmbeddings:
    """Paired vectors of ``new`` (source side) and ``old`` (target side), from files or texts.

    Give exactly one of ``pairs`` (``(new_file, old_file)``, embeddings files
    of the same items) and ``texts`` (an input file embedded with both
    generations, cached; ``role`` defaults to :func:`default_role` of
    ``direction``).  With ``ordered`` (for training), a ``new`` that is an
    ancestor of ``old`` is refused before anything is embedded; measuring an
    existing adapter passes its source and target as they are, ``ordered=False``.

    Example:
        >>> pairs = training_pairs(reg, "v3", "v2", texts="bbc.jsonl")  # doctest: +SKIP
    """
    if (pairs is None) == (texts is None):
        raise ValidationError(
            "give either paired embeddings files or a texts file, not both or neither",
            "use --pairs NEW_FILE OLD_FILE or --texts INPUT",
        )
    if ordered:
        doc = registry.document()
        check_order(doc, doc.generation_name(new), doc.generation_name(old))  # before embedding
    if pairs is not None:
        return load_pairs(registry, new, old, pairs[0], pairs[1])
    assert texts is not None
    return embed_pairs(
        registry,
        new,
        old,
        texts,
        role=role or default_role(direction),
        device=device,
        batch_size=batch_size,
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        use_cache=use_cache,
        progress=progress,
        on_cached=on_cached,
    )


def split_pairs(
    pairs: PairedEmbeddings, heldout: float, seed: int, input_dims: Sequence[int]
) -> tuple[PairedEmbeddings, PairedEmbeddings]:
    """Check ``pairs`` and split them reproducibly into (train, held-out).

    Raises:
        TrainingDataError: NaN/Inf rows, or fewer pairs than the widest
            input needs (see :func:`embedreg.data.pairs.minimum_pairs`).
    """
    pairs.check(min_pairs=minimum_pairs(max(input_dims), heldout))
    return pairs.split(heldout, seed)
