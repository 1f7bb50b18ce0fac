"""The test bed itself: the v1 conversion matches the ONNX original; data is complete."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

SENTENCES = [
    "A man is eating food.",
    "The stock market fell sharply after the central bank's announcement.",
    "Ünïcödé and numbers 12345 still tokenize.",
]


def test_v1_conversion_matches_onnxruntime(v1_dir: Path) -> None:
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer, BertModel

    import testbed

    tokenizer = AutoTokenizer.from_pretrained(v1_dir)
    enc = tokenizer(SENTENCES, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(testbed.v1_onnx_path()), providers=["CPUExecutionProvider"])
    feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    outputs = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True)
    )
    (onnx_states,) = [v for v in outputs.values() if v.ndim == 3]
    (onnx_pooled,) = [v for v in outputs.values() if v.ndim == 2 and v.shape[1] == 384]

    model = BertModel.from_pretrained(v1_dir, add_pooling_layer=False).eval()
    with torch.inference_mode():
        states = model(**{k: torch.tensor(v) for k, v in enc.items()}).last_hidden_state.numpy()
    mask = enc["attention_mask"][..., None]
    pooled = (states * mask).sum(1) / mask.sum(1)
    assert states.shape == onnx_states.shape == (3, enc["input_ids"].shape[1], 384)
    assert np.abs(states - onnx_states).max() < 1e-4
    assert np.abs(pooled - onnx_pooled).max() < 1e-4


def test_v2_and_v3_folders_are_complete(v2_dir: Path, v3_dir: Path) -> None:
    for folder in (v2_dir, v3_dir):
        for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json"):
            assert (folder / name).is_file(), f"{folder} lacks {name}"
    assert (v3_dir / "model.safetensors").stat().st_size > 400_000_000


def test_bbc_news_corpus(bbc_news: object) -> None:
    import testbed

    assert isinstance(bbc_news, testbed.BBCNews)
    assert len(bbc_news) == 2225 and len(set(bbc_news.ids)) == 2225
    counts = Counter(bbc_news.labels)
    assert counts == {
        "business": 510,
        "entertainment": 386,
        "politics": 417,
        "sports": 511,
        "tech": 401,
    }
    assert all(len(t) > 100 for t in bbc_news.texts)
    assert bbc_news.texts[0].startswith("Ad sales boost Time Warner profit")
