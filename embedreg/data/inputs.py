"""Read items to embed from text files, streaming, with errors that name file and line.

Three formats, chosen by suffix:

- ``.txt``: one item per line;
- ``.jsonl``: one JSON object per line with ``text`` and optional ``id`` and
  ``label`` (strings or integers);
- ``.csv``: a header row, then one record per row; the text comes from the
  ``text`` column (or the one you choose), ``id`` and ``label`` columns are
  used when present.

Every item has an id: the one the file gives, else its line number (as a
string). Labels are all-or-none: once the first item has one, each item must.
An empty item, a missing field, a malformed line, bytes that are not UTF-8,
text that is not valid Unicode (a lone surrogate from a JSON escape) or an
item longer than ``max_chars`` characters raise
:class:`~embedreg.errors.InputError` naming the file and the line.

Items are yielded one at a time, and no line is read past the item limit: a
file of any size, or with lines of any length, is read in bounded memory.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "docs.jsonl"
    >>> _ = path.write_text('{"text": "hello", "label": "greeting"}\\n{"text": "bye", "id": "b", "label": "farewell"}\\n')
    >>> [(item.id, item.text, item.label) for item in read_inputs(path)]
    [('1', 'hello', 'greeting'), ('b', 'bye', 'farewell')]
"""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import DEFAULT_MAX_ITEM_CHARS
from ..errors import InputError

__all__ = [
    "INPUT_SUFFIXES",
    "InputColumns",
    "InputItem",
    "check_regular_file",
    "count_lines",
    "input_ids",
    "read_inputs",
]

#: File suffixes :func:`read_inputs` understands.
INPUT_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl", ".csv")


@dataclass(frozen=True)
class InputColumns:
    """Where an input's fields are: the JSONL field or CSV column of each.

    Args:
        text: the text (``.txt`` files have only this, one item a line).
        id: the ids (``None``: ``id`` when present, else the line number).
        label: the labels (``None``: ``label`` when present).
        image: the image file names of an image list (``None``: ``image``).

    The readers take them as ``text_field``, ``id_field``, ``label_field``
    and ``image_field``; every CLI command that reads inputs passes one
    ``InputColumns`` (``--column``, ``--id-column``, ``--label-column``,
    ``--image-column``).

    Example:
        >>> InputColumns(text="body", id="doc_id").label is None
        True
    """

    text: str = "text"
    id: str | None = None
    label: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class InputItem:
    """One item to embed.

    Attributes:
        text: the text (never empty).
        id: the file's id for it, else its line number as a string.
        label: its label, or ``None`` when the file has none.
        line: the (first) line of the file it comes from, counting from 1.
    """

    text: str
    id: str
    label: str | None
    line: int


def _lines(path: Path, max_chars: int = DEFAULT_MAX_ITEM_CHARS) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line break)``, decoding UTF-8 line by line.

    A line is read at most ``4 · max_chars`` bytes at a time (UTF-8 takes up
    to four per character), so one huge line cannot fill the memory.
    """
    cap = 4 * max_chars + 2  # the characters, and a line break of up to two bytes
    check_regular_file(path)  # opening a pipe would wait for a writer forever
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(str(path), None, "does not exist", "check the path") from None
    except IsADirectoryError:
        raise InputError(str(path), None, "is a folder, not a file", "pass a file") from None
    with fh:
        for number, raw in enumerate(iter(lambda: fh.readline(cap), b""), start=1):
            if len(raw) >= cap and not raw.endswith(b"\n"):
                raise _too_long(path, number, max_chars)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    str(path),
                    number,
                    f"invalid UTF-8 (byte {exc.start + 1} of the line)",
                    "save the file as UTF-8",
                ) from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            text = text.rstrip("\r\n")
            if len(text) > max_chars:
                raise _too_long(path, number, max_chars)
            yield number, text


def check_regular_file(path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` unless ``path`` is an existing regular file.

    A pipe, socket or device is refused without being opened (reading one
    could wait forever).

    Example:
        >>> check_regular_file("/dev/null")
        Traceback (most recent call last):
        ...
        embedreg.errors.InputError: /dev/null: is not a regular file (a pipe, socket or device); pass a file
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(str(path), None, "does not exist", "check the path") from None
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise InputError(str(path), None, "is a folder, not a file", "pass a file")
    if not stat.S_ISREG(mode):
        raise InputError(
            str(path), None, "is not a regular file (a pipe, socket or device)", "pass a file"
        )


def input_ids(
    path: str | os.PathLike[str],
    *,
    text_field: str = "text",
    id_field: str | None = None,
    max_chars: int = DEFAULT_MAX_ITEM_CHARS,
) -> list[str]:
    """The ids of all items of an input file, read once before any model loads.

    Raises:
        InputError: the file is not a regular file, has a bad line, holds no
            items, or gives one id to two items (both lines are named).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "docs.txt"
        >>> _ = path.write_text("a\\nb\\n")
        >>> input_ids(path)
        ['1', '2']
    """
    seen: dict[str, int] = {}
    for item in read_inputs(path, text_field=text_field, id_field=id_field, max_chars=max_chars):
        if item.id in seen:
            raise InputError(
                str(path),
                item.line,
                f"id {item.id!r} was given on line {seen[item.id]} already",
                "give every item its own id",
            )
        seen[item.id] = item.line
    if not seen:
        raise InputError(str(path), None, "holds no items", "give it at least one item")
    return list(seen)


def _too_long(path: Path, line: int, max_chars: int) -> InputError:
    return InputError(
        str(path),
        line,
        f"the line is longer than {max_chars:,} characters",
        "split or shorten the item (models read only their first few hundred tokens), "
        "or raise max_chars",
    )


def _unicode(path: Path, line: int, value: str, field: str) -> str:
    """``value``, refused when it holds lone surrogates (JSON escapes that are no character)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            str(path),
            line,
            f"field {field!r} holds {value[exc.start : exc.end]!a}, which is not valid Unicode",
            "remove the stray surrogate escape from the file",
        ) from None
    return value


def _text(path: Path, line: int, value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InputError(
            str(path), line, f"field {field!r} must be a string, got {type(value).__name__}"
        )
    if not value.strip():
        raise InputError(str(path), line, f"empty {field}", "remove the line or give it text")
    return _unicode(path, line, value, field)


def _optional(path: Path, line: int, value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(
            str(path),
            line,
            f"field {field!r} must be a string or an integer, got {type(value).__name__}",
        )
    return _unicode(path, line, str(value), field)


class _Labels:
    """Enforce labels all-or-none across a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first: bool | None = None

    def check(self, line: int, label: str | None) -> str | None:
        has = label is not None
        if self.first is None:
            self.first = has
        elif has != self.first:
            state = "has a label" if has else "has no label"
            raise InputError(
                str(self.path),
                line,
                f"item {state}, unlike the first item",
                "give every item a label, or none",
            )
        return label


def _read_txt(path: Path, max_chars: int) -> Iterator[InputItem]:
    for number, text in _lines(path, max_chars):
        if not text.strip():
            raise InputError(
                str(path), number, "empty line", "remove empty lines: each line is one item"
            )
        yield InputItem(text=text, id=str(number), label=None, line=number)


def _read_jsonl(
    path: Path, text_field: str, id_field: str | None, label_field: str | None, max_chars: int
) -> Iterator[InputItem]:
    labels = _Labels(path)
    for number, line in _lines(path, max_chars):
        if not line.strip():
            raise InputError(str(path), number, "empty line", "each line must hold a JSON object")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                str(path), number, f"invalid JSON at column {exc.colno}: {exc.msg}"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                str(path), number, f"expected a JSON object, got {type(record).__name__}"
            )
        if text_field not in record:
            raise InputError(str(path), number, f"missing field {text_field!r}")
        text = _text(path, number, record[text_field], text_field)
        if id_field is not None and id_field not in record:
            raise InputError(str(path), number, f"missing field {id_field!r}")
        if label_field is not None and label_field not in record:
            raise InputError(str(path), number, f"missing field {label_field!r}")
        item_id = _optional(path, number, record.get(id_field or "id"), id_field or "id")
        label = _optional(path, number, record.get(label_field or "label"), label_field or "label")
        yield InputItem(
            text=text,
            id=item_id if item_id is not None else str(number),
            label=labels.check(number, label),
            line=number,
        )


def _read_csv(
    path: Path, text_field: str, id_field: str | None, label_field: str | None, max_chars: int
) -> Iterator[InputItem]:
    lines = _lines(path, max_chars)
    reader = csv.reader(text + "\n" for _, text in lines)
    where = str(path)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(where, 1, f"malformed CSV header ({exc})") from None
    columns = {name: i for i, name in enumerate(header)}

    def column(name: str | None, default: str, required: bool) -> int | None:
        key = name or default
        if key in columns:
            return columns[key]
        if required or name is not None:
            raise InputError(
                where,
                1,
                f"no column {key!r} in the header (columns: {', '.join(header) or 'none'})",
                "choose the text column with --column",
            )
        return None

    text_col = column(text_field, "text", True)
    id_col = column(id_field, "id", False)
    label_col = column(label_field, "label", False)
    assert text_col is not None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(where, start, f"malformed CSV ({exc})") from None
        if not row:
            raise InputError(where, start, "empty line", "remove empty lines")
        if len(row) != len(header):
            raise InputError(where, start, f"{len(row)} fields where the header has {len(header)}")
        text = _text(path, start, row[text_col], f"column {header[text_col]!r}")
        item_id = row[id_col] if id_col is not None else ""
        if id_col is not None and not item_id:
            raise InputError(where, start, f"empty id in column {header[id_col]!r}")
        yield InputItem(
            text=text,
            id=item_id or str(start),
            label=row[label_col] if label_col is not None else None,
            line=start,
        )


def read_inputs(
    path: str | os.PathLike[str],
    *,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    max_chars: int = DEFAULT_MAX_ITEM_CHARS,
) -> Iterator[InputItem]:
    """Yield the items of a ``.txt``, ``.jsonl`` or ``.csv`` file, one at a time.

    Args:
        path: the input file.
        text_field: JSONL field or CSV column holding the text.
        id_field: field or column of ids; ``None`` uses ``id`` when present.
            Naming one makes it required.
        label_field: field or column of labels; ``None`` uses ``label`` when
            present. Naming one makes it required.
        max_chars: the longest line (item) accepted, in characters.

    Raises:
        InputError: unknown suffix, missing file, or a bad line (named).

    Example:
        >>> items = read_inputs("docs.csv", text_field="body")  # doctest: +SKIP
        >>> next(items).text  # doctest: +SKIP
        'First document'
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".txt":
        if id_field is not None or label_field is not None:
            raise InputError(
                str(file), None, ".txt files hold only texts (one per line), no ids or labels"
            )
        return _read_txt(file, max_chars)
    if suffix == ".jsonl":
        return _read_jsonl(file, text_field, id_field, label_field, max_chars)
    if suffix == ".csv":
        return _read_csv(file, text_field, id_field, label_field, max_chars)
    raise InputError(
        str(file),
        None,
        f"unsupported input type {suffix or '(no suffix)'!r}",
        f"use one of {', '.join(INPUT_SUFFIXES)}",
    )


def count_lines(path: str | os.PathLike[str]) -> int:
    """Number of lines in a file (a fast byte scan): an upper bound on its items.

    Used to size progress bars; a CSV's header counts as a line.

    Example:
        >>> count_lines("docs.txt")  # doctest: +SKIP
        500
    """
    count = 0
    last = b"\n"
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)
