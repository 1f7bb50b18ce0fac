"""Turn texts into vectors exactly as a generation defines them.

An :class:`Encoder` loads a generation's model with transformers
(``AutoTokenizer`` / ``AutoModel``) from its pinned source and applies its
recipe the way sentence-transformers does: the role's prefix is prepended,
the text stripped, tokens truncated to ``max_tokens``, token states pooled
(``mean`` over the attention mask, ``cls`` or ``last-token``) and, when the
recipe says so, L2-normalised.

Loading is pinned:

- a **local folder** is re-hashed and refused with
  :class:`~embedreg.errors.ModelChanged` when its weights no longer match the
  sha256 the generation pinned (``verify_pin=False`` skips the check, as
  ``embedreg gen verify`` does to report on a changed folder);
- a **Hub repo** is fetched with ``huggingface_hub.snapshot_download`` at the
  pinned 40-hex commit, never a branch; once cached it loads offline.

Fast: batches are sorted by token length to cut padding (and put back in
input order), ``device="auto"`` picks CUDA, then MPS, then CPU, GPUs run
under float16 autocast, and everything runs in ``torch.inference_mode``.

Example:
    >>> enc = Encoder(registry.generation("v2"))  # doctest: +SKIP
    >>> enc.encode(["a query"], role="query").shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import PRECISIONS, ROLES
from ..devices import select_device
from ..errors import DimensionMismatch, ModelLoadError, ValidationError
from ..registry import Generation, Tower
from ..util.callbacks import Progress
from .folders import model_folder
from .towers import image_features, load_image_processor, text_features

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "Encoder", "ProgressCallback"]

#: ``progress(done, total)``: items finished so far, and the total when known.
ProgressCallback = Progress

#: Weights that a checkpoint may lack without changing the token states we pool.
_UNUSED_WEIGHT_PREFIXES = ("pooler.",)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and load reports while we load a model."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class Encoder:
    """A generation's model, loaded once, encoding texts by its recipe.

    Args:
        generation: what to encode with (pinned source + recipe).
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``,
            ``cuda:N`` or ``mps``.
        batch_size: texts per forward pass.
        precision: ``auto`` (float16 autocast on GPUs, float32 on CPU),
            ``fp32``, ``fp16`` or ``bf16`` (autocast).
        sort_by_length: batch texts of similar token length together (much
            less padding); results always come back in input order.
        verify_pin: re-hash a local folder's weights against the pin.
        folder: load from this folder instead of the generation's source
            (for checks on copies; the pin is then not verified).
        check_dimension: refuse vectors whose length differs from the
            generation's declared dimension (off only to probe a dimension).

    Example:
        >>> enc = Encoder(gen, device="cpu", batch_size=64)  # doctest: +SKIP
        >>> vecs = enc.encode(["first text", "second text"], role="document")  # doctest: +SKIP
        >>> vecs.dtype, vecs.shape  # doctest: +SKIP
        (dtype('float32'), (2, 384))
    """

    def __init__(
        self,
        generation: Generation,
        *,
        device: str = "auto",
        batch_size: int = 32,
        precision: str = "auto",
        sort_by_length: bool = True,
        verify_pin: bool = True,
        folder: str | Path | None = None,
        check_dimension: bool = True,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(f"batch size must be a positive integer, got {batch_size!r}")
        if precision not in PRECISIONS:
            raise ValidationError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        if not generation.towers:
            raise ValidationError(
                f"generation {generation.name!r} embeds {generation.modality}, "
                "and embedreg's encoder embeds text and images"
            )
        if generation.towers == (Tower.IMAGE,) and generation.image_recipe is None:
            raise ValidationError(
                f"generation {generation.name!r} embeds image, and has no image recipe",
                "register it again with 'embedreg gen add' (its image processor is recorded then)",
            )
        self.generation = generation
        self.recipe = generation.recipe
        self.batch_size = batch_size
        self.sort_by_length = sort_by_length
        self.check_dimension = check_dimension
        self.device = select_device(device)
        kind = self.device.split(":", 1)[0]
        self.precision = (
            ("fp16" if kind in ("cuda", "mps") else "fp32") if precision == "auto" else precision
        )
        self.folder = (
            Path(folder) if folder is not None else model_folder(generation, verify_pin=verify_pin)
        )
        self._image_processor: Any = None
        self._tokenizer, self._model = self._load()
        self._two_tower = hasattr(self._model, "get_text_features")
        names = getattr(self._tokenizer, "model_input_names", ["input_ids", "attention_mask"])
        self._token_types = "token_type_ids" in names
        pad = getattr(self._tokenizer, "pad_token_id", None)
        if pad is None:
            pad = getattr(self._tokenizer, "eos_token_id", None)
        self._pad_id = int(pad) if pad is not None else 0
        self._left_pad = getattr(self._tokenizer, "padding_side", "right") == "left"

    def __repr__(self) -> str:
        return f"Encoder({self.generation.name!r}, device={self.device!r}, precision={self.precision!r})"

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModel, AutoTokenizer

        where = f"{self.folder} (generation {self.generation.name!r})"
        try:
            with _quiet_transformers():
                tokenizer = (
                    AutoTokenizer.from_pretrained(str(self.folder))
                    if Tower.TEXT in self.generation.towers
                    else None
                )
                model, info = AutoModel.from_pretrained(
                    str(self.folder),
                    dtype=torch.float32,
                    output_loading_info=True,
                    use_safetensors=True,  # never unpickle a checkpoint
                )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"cannot load the model in {where}: {first}",
                "the folder needs transformers config, weights and tokenizer files",
            ) from None
        missing = sorted(
            k for k in info.get("missing_keys", ()) if not k.startswith(_UNUSED_WEIGHT_PREFIXES)
        )
        if missing:
            shown = ", ".join(missing[:3]) + (
                f" … {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            raise ModelLoadError(
                f"the weights in {where} lack {len(missing)} tensor(s) the model needs ({shown})",
                "they would be random: repair the checkpoint",
            )
        model.eval()
        model.to(self.device)
        return tokenizer, model

    # --- encoding ---------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        """The generation's declared dimension (checked against each batch)."""
        return self.generation.dimension

    def _prepare(self, texts: Sequence[str], role: str) -> list[str]:
        if self._tokenizer is None:
            raise ValidationError(
                f"generation {self.generation.name!r} has no text tower", "embed images with it"
            )
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        prefix = self.recipe.query_prefix if role == "query" else self.recipe.document_prefix
        out = []
        for text in texts:
            if not isinstance(text, str):
                raise ValidationError(f"texts must be strings, got {type(text).__name__}")
            out.append((prefix + text).strip())
        return out

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        enc = self._tokenizer(
            texts,
            truncation=True,
            max_length=self.recipe.max_tokens,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids: list[list[int]] = enc["input_ids"]
        return ids

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.split(":", 1)[0], dtype=dtype)

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        import torch

        length = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), length), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, ids in enumerate(batch):
            if self._left_pad:
                input_ids[row, length - len(ids) :] = ids
                mask[row, length - len(ids) :] = 1
            else:
                input_ids[row, : len(ids)] = ids
                mask[row, : len(ids)] = 1
        inputs = {
            "input_ids": torch.from_numpy(input_ids).to(self.device),
            "attention_mask": torch.from_numpy(mask).to(self.device),
        }
        if self._token_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        with torch.inference_mode(), self._autocast():
            if self._two_tower:
                pooled = text_features(self._model, inputs, self.recipe.pooling, _pool)
            else:
                out = self._model(**inputs)
                states = (
                    out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
                ).float()
                pooled = _pool(states, inputs["attention_mask"], self.recipe.pooling)
            if self.recipe.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return self._checked(pooled.float().cpu().numpy())

    def _checked(self, vectors: np.ndarray) -> np.ndarray:
        if self.check_dimension and vectors.shape[1] != self.generation.dimension:
            raise DimensionMismatch(
                self.generation.dimension,
                int(vectors.shape[1]),
                f"the model of generation {self.generation.name!r}",
                "the generation's dimension is wrong; re-register it",
            )
        return vectors

    def encode_images(
        self, images: Sequence[Any], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Encode PIL images with the image tower; float32 ``(len(images), d)`` in input order.

        Each batch goes through the model's own image processor (the one the
        generation's image recipe recorded) and ``get_image_features``.

        Example:
            >>> from PIL import Image  # doctest: +SKIP
            >>> enc.encode_images([Image.open("cat.jpg").convert("RGB")]).shape  # doctest: +SKIP
            (1, 512)
        """
        import torch

        if Tower.IMAGE not in self.generation.towers:
            raise ValidationError(
                f"generation {self.generation.name!r} ({self.generation.modality}) has no image tower",
                "embed images with a two-tower (text+image) or image generation",
            )
        if self._image_processor is None:
            self._image_processor = load_image_processor(self.folder, self.generation)
        recipe = self.generation.image_recipe
        out: np.ndarray | None = None
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start : start + self.batch_size])
            pixels = self._image_processor(images=batch, return_tensors="pt")["pixel_values"]
            with torch.inference_mode(), self._autocast():
                feats = image_features(self._model, pixels.to(self.device))
                if recipe is not None and recipe.normalize:
                    feats = torch.nn.functional.normalize(feats, p=2, dim=1)
            vectors = self._checked(feats.float().cpu().numpy())
            if out is None:
                out = np.empty((len(images), vectors.shape[1]), dtype=np.float32)
            out[start : start + len(batch)] = vectors
            if progress is not None:
                progress(start + len(batch), len(images))
        return out if out is not None else np.zeros((0, self.dimension), dtype=np.float32)

    def _encode_chunk(
        self,
        texts: Sequence[str],
        role: str,
        done: int,
        total: int | None,
        progress: ProgressCallback | None,
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        tokens = self._tokenize(self._prepare(texts, role))
        order = (
            sorted(range(len(tokens)), key=lambda i: -len(tokens[i]))
            if self.sort_by_length
            else list(range(len(tokens)))
        )
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            vectors = self._forward([tokens[i] for i in index])
            if out is None:
                out = np.empty((len(tokens), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
            done += len(index)
            if progress is not None:
                progress(done, total)
        assert out is not None
        return out

    def encode(
        self,
        texts: Sequence[str],
        *,
        role: str = "document",
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode ``texts``; returns float32 vectors of shape ``(len(texts), d)`` in input order.

        Example:
            >>> enc.encode(["hello", "world"], role="query").shape  # doctest: +SKIP
            (2, 384)
        """
        chunks = list(self.encode_iter(texts, role=role, progress=progress, total=len(texts)))
        if not chunks:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def encode_iter(
        self,
        texts: Iterable[str],
        *,
        role: str = "document",
        chunk_size: int = 8192,
        progress: ProgressCallback | None = None,
        total: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Encode a stream of texts, ``chunk_size`` at a time, yielding one array per chunk.

        Memory holds one chunk of texts and vectors; length sorting happens
        within each chunk.

        Example:
            >>> for vecs in enc.encode_iter(open("docs.txt"), chunk_size=4096):  # doctest: +SKIP
            ...     writer.write(vecs)
        """
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValidationError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        done = 0
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) >= chunk_size:
                yield self._encode_chunk(chunk, role, done, total, progress)
                done += len(chunk)
                chunk = []
        if chunk:
            yield self._encode_chunk(chunk, role, done, total, progress)


def _pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states (B, T, H) into (B, H) as sentence-transformers does."""
    import torch

    if pooling == "cls":
        return states[:, 0]
    if pooling == "last-token":
        # The last attended position, whichever side the padding is on.
        seq_len = mask.shape[1]
        values, flipped = mask.flip(1).max(1)
        flipped = torch.where(values == 0, seq_len - 1, flipped)
        last = seq_len - flipped - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    weights = mask.unsqueeze(-1).to(states.dtype)
    summed = (states * weights).sum(1)
    counts = weights.sum(1).clamp(min=1e-9)
    return summed / counts
