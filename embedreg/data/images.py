"""Read images to embed: a folder of images, or a ``.jsonl``/``.csv`` list naming image files.

- a **folder**: every file below it whose suffix is an image's
  (:data:`IMAGE_SUFFIXES`), in sorted path order; its id is its path
  relative to the folder, and it has no label;
- a **list** (``.jsonl`` or ``.csv``, read by :func:`~embedreg.data.inputs.read_inputs`
  with the image column in place of the text column, ``image`` by default):
  each row names an image file, relative to the list's own folder unless
  absolute, with optional ``id`` and ``label`` as for texts.

Images are checked twice, each time in bounded memory: :func:`check_images`
reads every header before any model loads (a missing or unreadable file, or
one of more than ``max_pixels`` pixels, is found there), and
:func:`open_image` decodes one image when it is embedded (a truncated file is
found there).  Each problem is a :class:`~embedreg.errors.BadImage` naming
the file; callers either stop at the first (nothing written) or skip and list
them (``--skip-bad``).

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4)).save(root / "a.png")
    >>> _ = (root / "b.png").write_bytes(b"not an image")
    >>> good, bad = check_images(read_images(root), skip_bad=True)
    >>> good, [(error.image.endswith("b.png"), error.problem) for error in bad]
    (1, [(True, 'unreadable')])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import DEFAULT_MAX_IMAGE_PIXELS
from ..errors import BadImage, InputError
from .inputs import read_inputs

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageItem",
    "check_images",
    "is_image_input",
    "open_image",
    "read_images",
]

#: File suffixes a folder's images may have.
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".bmp",
    ".gif",
    ".jpeg",
    ".jpg",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
)
DEFAULT_IMAGE_FIELD = "image"


@dataclass(frozen=True)
class ImageItem:
    """One image to embed.

    Attributes:
        path: the image file.
        id: the list's id for it (else its line number), or its path relative
            to the folder.
        label: its label, or ``None``.
        line: the list's line that named it (``None`` for a folder's image).
        listed_in: the list file, or ``None`` for a folder.
    """

    path: Path
    id: str
    label: str | None
    line: int | None = None
    listed_in: Path | None = None

    def error(self, problem: str, detail: str) -> BadImage:
        """A :class:`BadImage` about this image."""
        return BadImage(
            str(self.path),
            problem,
            detail,
            listed_in=str(self.listed_in) if self.listed_in else None,
            line=self.line,
        )


def is_image_input(path: str | os.PathLike[str], image_field: str | None = None) -> bool:
    """True when ``path`` is a folder, or a list with an image column.

    A ``.jsonl``/``.csv`` list is one of images when ``image_field`` is given,
    or when its first row has an ``image`` field and no ``text`` field.
    """
    file = Path(path)
    if file.is_dir():
        return True
    if image_field is not None:
        return True
    suffix = file.suffix.lower()
    if suffix not in (".jsonl", ".csv") or not file.is_file():
        return False
    import csv
    import json

    with open(file, encoding="utf-8", errors="replace", newline="") as fh:
        if suffix == ".csv":
            header = next(csv.reader(fh), [])
            return DEFAULT_IMAGE_FIELD in header and "text" not in header
        first = fh.readline()
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and DEFAULT_IMAGE_FIELD in row and "text" not in row


def read_images(
    path: str | os.PathLike[str],
    *,
    image_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
) -> Iterator[ImageItem]:
    """Yield the images of a folder or of a ``.jsonl``/``.csv`` list, one at a time.

    Raises:
        InputError: a missing path, a folder without images (when iterated),
            or a bad line of the list (named).
    """
    root = Path(path)
    if root.is_dir():
        if id_field is not None or label_field is not None or image_field is not None:
            raise InputError(
                str(root), None, "a folder of images has no columns", "drop the column options"
            )
        return _folder(root)
    if not root.exists():
        raise InputError(str(root), None, "does not exist", "check the path")
    items = read_inputs(
        root,
        text_field=image_field or DEFAULT_IMAGE_FIELD,
        id_field=id_field,
        label_field=label_field,
    )
    base = root.resolve().parent
    return (
        ImageItem(
            path=Path(item.text) if Path(item.text).is_absolute() else base / item.text,
            id=item.id,
            label=item.label,
            line=item.line,
            listed_in=root,
        )
        for item in items
    )


def _folder(root: Path) -> Iterator[ImageItem]:
    found = False
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found = True
            path = Path(dirpath) / name
            yield ImageItem(path=path, id=path.relative_to(root).as_posix(), label=None)
    if not found:
        raise InputError(
            str(root),
            None,
            "holds no images",
            f"put image files ({', '.join(IMAGE_SUFFIXES)}) in it, or pass a list",
        )


def _opened(item: ImageItem, max_pixels: int) -> Any:
    """The image opened (header read, pixels not yet decoded); raises :class:`BadImage`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(item.path)
    except FileNotFoundError:
        raise item.error("unreadable", "does not exist") from None
    except IsADirectoryError:
        raise item.error("unreadable", "is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise item.error("huge", str(exc).split(".")[0]) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = "is not an image file" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise item.error("unreadable", f"cannot be read as an image ({reason})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise item.error(
            "huge",
            f"is {width}x{height} = {width * height:,} pixels, more than the {max_pixels:,} allowed",
        )
    return image


def open_image(item: ImageItem, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Any:
    """Decode ``item`` into an RGB ``PIL.Image``; raises :class:`BadImage` (truncated, …)."""
    image = _opened(item, max_pixels)
    try:
        with image:
            image.load()
            return image.convert("RGB")
    except OSError as exc:
        problem = "truncated" if "truncated" in str(exc) else "unreadable"
        detail = "is truncated" if problem == "truncated" else f"cannot be decoded ({exc})"
        raise item.error(problem, detail) from None
    except (ValueError, SyntaxError) as exc:
        raise item.error("unreadable", f"cannot be decoded ({exc})") from None


def check_images(
    items: Iterable[ImageItem],
    *,
    skip_bad: bool = False,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> tuple[int, list[BadImage]]:
    """Read every image's header: how many are usable, and the problems found.

    Without ``skip_bad`` the first problem is raised.  Only headers are read
    (a truncated file is found when :func:`open_image` decodes it), and only
    the problems are kept: a list of any length is checked in bounded memory.
    """
    good = 0
    bad: list[BadImage] = []
    for item in items:
        try:
            _opened(item, max_pixels).close()
        except BadImage as exc:
            if not skip_bad:
                raise
            bad.append(exc)
            continue
        good += 1
    return good, bad
