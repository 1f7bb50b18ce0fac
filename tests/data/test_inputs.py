"""Input readers: .txt, .jsonl, .csv; errors name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedreg.data.inputs import count_lines, read_inputs
from embedreg.errors import InputError


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_txt_one_item_per_line(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.txt", "\ufefffirst line\r\nsecond, with comma\nthird ✓")
    items = list(read_inputs(path))
    assert [i.text for i in items] == ["first line", "second, with comma", "third ✓"]
    assert [i.id for i in items] == ["1", "2", "3"] and [i.line for i in items] == [1, 2, 3]
    assert all(i.label is None for i in items)
    assert count_lines(path) == 3


def test_txt_empty_line_and_bad_utf8_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.txt", "one\n\nthree\n")
    with pytest.raises(InputError) as info:
        list(read_inputs(path))
    assert f"{path}, line 2: empty line" in str(info.value)
    bad = write(tmp_path / "bad.txt", b"fine\ncaf\xe9 latin-1\n")
    with pytest.raises(InputError, match=r"bad\.txt, line 2: invalid UTF-8 \(byte 4"):
        list(read_inputs(bad))


def test_jsonl_fields_ids_and_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "docs.jsonl",
        '{"text": "alpha", "label": "x"}\n'
        '{"text": "beta", "id": 7, "label": 3}\n'
        '{"text": "gamma", "id": "g", "label": "x", "extra": 1}\n',
    )
    items = list(read_inputs(path))
    assert [(i.text, i.id, i.label) for i in items] == [
        ("alpha", "1", "x"),
        ("beta", "7", "3"),
        ("gamma", "g", "x"),
    ]
    custom = write(tmp_path / "c.jsonl", '{"body": "b1", "key": "k1"}\n')
    (item,) = read_inputs(custom, text_field="body", id_field="key")
    assert (item.text, item.id) == ("b1", "k1")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"txt": "typo"}\n', "line 2: missing field 'text'"),
        ('{"text": "ok"}\n{"text": "  "}\n', "line 2: empty text"),
        ('{"text": "ok"}\n{"text": 5}\n', "line 2: field 'text' must be a string"),
        ('{"text": "ok"}\n{"text": "x",\n', "line 2: invalid JSON"),
        ('{"text": "ok"}\n["text"]\n', "line 2: expected a JSON object"),
        ('{"text": "ok"}\n\n', "line 2: empty line"),
        ('{"text": "a", "label": "x"}\n{"text": "b"}\n', "line 2: item has no label"),
        ('{"text": "a"}\n{"text": "b", "label": "y"}\n', "line 2: item has a label"),
        ('{"text": "a", "id": [1]}\n', "line 1: field 'id' must be a string or an integer"),
    ],
)
def test_jsonl_errors(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "docs.jsonl", content)
    with pytest.raises(InputError, match=message) as info:
        list(read_inputs(path))
    assert str(path) in str(info.value)


def test_jsonl_required_id_field(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "a", "key": 1}\n{"text": "b"}\n')
    with pytest.raises(InputError, match="line 2: missing field 'key'"):
        list(read_inputs(path, id_field="key"))


def test_csv_columns_quoting_and_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "docs.csv",
        'id,body,label\na1,"plain",x\na2,"spans\ntwo lines",y\na3,"has ""quotes"", commas",x\n',
    )
    items = list(read_inputs(path, text_field="body"))
    assert [(i.id, i.text, i.label, i.line) for i in items] == [
        ("a1", "plain", "x", 2),
        ("a2", "spans\ntwo lines", "y", 3),
        ("a3", 'has "quotes", commas', "x", 5),
    ]
    plain = write(tmp_path / "t.csv", "text\nhello\nworld\n")
    assert [(i.id, i.text, i.label) for i in read_inputs(plain)] == [
        ("2", "hello", None),
        ("3", "world", None),
    ]


def test_csv_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.csv", "id,body\n1,hello\n")
    with pytest.raises(
        InputError, match=r"line 1: no column 'text' in the header \(columns: id, body\)"
    ):
        list(read_inputs(path))
    with pytest.raises(InputError, match="no column 'tag'"):
        list(read_inputs(path, text_field="body", label_field="tag"))
    short = write(tmp_path / "short.csv", "text,label\nhello,x\nlonely\n")
    with pytest.raises(InputError, match="line 3: 1 fields where the header has 2"):
        list(read_inputs(short))
    empty_text = write(tmp_path / "e.csv", "text,label\n,x\n")
    with pytest.raises(InputError, match="line 2: empty column 'text'"):
        list(read_inputs(empty_text))
    bad = write(tmp_path / "bad.csv", b"text\nok\n\xff\xfe\n")
    with pytest.raises(InputError, match="line 3: invalid UTF-8"):
        list(read_inputs(bad))


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unsupported input type '\.parquet'"):
        read_inputs(tmp_path / "x.parquet")
    with pytest.raises(InputError, match="does not exist"):
        list(read_inputs(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="no ids or labels"):
        read_inputs(tmp_path / "x.txt", id_field="id")


def test_reading_is_lazy(tmp_path: Path) -> None:
    """Items stream: an error late in the file surfaces only when it is reached."""
    path = write(tmp_path / "big.txt", "".join(f"item {i}\n" for i in range(10_000)) + "\n")
    items = read_inputs(path)
    first = [next(items) for _ in range(3)]
    assert [i.text for i in first] == ["item 0", "item 1", "item 2"]
    with pytest.raises(InputError, match="line 10001: empty line"):
        list(items)


def test_one_huge_line_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """Issue 14 #11: a 50 MB line (or a sparse 1 GiB file without newlines) is not read whole."""
    import tracemalloc

    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:
        fh.write(b"ok\n")
        fh.truncate(1 << 30)  # 1 GiB, sparse: zero bytes and no newline after the first line
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"huge\.txt, line 2: the line is longer than 1,000"):
            list(read_inputs(huge, max_chars=1000))
        with pytest.raises(InputError, match="line 2: the line is longer than 1,000,000"):
            list(read_inputs(huge))  # the default limit
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # a bounded read, not 1 GiB
    line = write(tmp_path / "line.jsonl", '{"text": "' + "x" * 5000 + '"}\n')
    with pytest.raises(InputError, match=r"line\.jsonl, line 1: the line is longer than 4,000"):
        list(read_inputs(line, max_chars=4000))
    assert len(next(read_inputs(line, max_chars=6000)).text) == 5000


def test_lone_surrogates_are_input_errors(tmp_path: Path) -> None:
    """Issue 14 #12: JSON escapes of lone surrogates name the file, line and field."""
    text = write(tmp_path / "t.jsonl", '{"text": "fine"}\n{"text": "bad \\ud800 here"}\n')
    with pytest.raises(InputError, match=r"t\.jsonl, line 2: field 'text' holds '\\ud800'"):
        list(read_inputs(text))
    ident = write(tmp_path / "i.jsonl", '{"text": "fine", "id": "\\udfff"}\n')
    with pytest.raises(InputError, match=r"i\.jsonl, line 1: field 'id' holds '\\udfff'"):
        list(read_inputs(ident))
    pair = write(tmp_path / "p.jsonl", '{"text": "a real pair \\ud83d\\ude00 is fine"}\n')
    assert next(read_inputs(pair)).text == "a real pair 😀 is fine"
