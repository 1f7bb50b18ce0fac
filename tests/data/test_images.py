"""Reading images to embed: folders and lists, and every bad image named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg.data.images import check_images, is_image_input, open_image, read_images
from embedreg.errors import BadImage, InputError
from PIL import Image


def _png(path: Path, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 10, 10)).save(path)
    return path


def test_a_folder_lists_its_images_in_path_order(tmp_path: Path) -> None:
    _png(tmp_path / "b" / "2.png")
    _png(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [i.id for i in read_images(tmp_path)] == ["a.png", "b/2.png"]
    assert is_image_input(tmp_path)
    with pytest.raises(InputError, match="holds no images"):
        list(read_images(_empty(tmp_path / "empty")))


def _empty(path: Path) -> Path:
    path.mkdir()
    return path


def test_a_list_names_images_relative_to_itself(tmp_path: Path) -> None:
    _png(tmp_path / "pics" / "x.png")
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"image": "pics/x.png", "id": "x", "label": "red"}) + "\n")
    (item,) = read_images(listing)
    assert (item.path, item.id, item.label, item.line) == (
        tmp_path / "pics" / "x.png",
        "x",
        "red",
        1,
    )
    assert is_image_input(listing)
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "hello"}) + "\n")
    assert not is_image_input(texts)
    csv = tmp_path / "list.csv"
    csv.write_text("photo,label\npics/x.png,red\n")
    assert [i.path.name for i in read_images(csv, image_field="photo")] == ["x.png"]


def test_unreadable_huge_and_truncated_images_are_named(tmp_path: Path) -> None:
    good = _png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a PNG")
    _png(tmp_path / "big.png", (300, 300))
    Image.effect_noise((64, 64), 60).convert("RGB").save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])

    with pytest.raises(BadImage) as first:
        check_images(read_images(tmp_path), max_pixels=10_000)
    assert first.value.problem == "unreadable" and first.value.image.endswith("bad.png")
    assert "bad.png" in str(first.value) and "--skip-bad" in str(first.value)

    count, bad = check_images(read_images(tmp_path), skip_bad=True, max_pixels=10_000)
    assert count == 2  # good.png, and cut.png, whose header is whole
    assert sorted((Path(e.image).name, e.problem) for e in bad) == [
        ("bad.png", "unreadable"),
        ("big.png", "huge"),
    ]
    items = {i.path.name: i for i in read_images(tmp_path)}
    with pytest.raises(BadImage) as cut:
        open_image(items["cut.png"])
    assert cut.value.problem == "truncated"
    assert open_image(items[good.name]).mode == "RGB"


def test_a_missing_listed_image_names_the_list_line(tmp_path: Path) -> None:
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"image": "gone.png"}) + "\n")
    with pytest.raises(BadImage, match=r"list.jsonl, line 1\): does not exist"):
        check_images(read_images(listing))
