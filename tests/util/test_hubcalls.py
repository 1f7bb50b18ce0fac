"""huggingface_hub's own progress bars stay out of logs when embedreg is used as a library."""

from __future__ import annotations

import contextlib
from pathlib import Path

import embedreg.util.hubcalls as hubcalls
import huggingface_hub.constants
import pytest
from embedreg import Registry
from embedreg.hub import publish_adapter, pull_adapter
from huggingface_hub.utils.tqdm import are_progress_bars_disabled

from hub.helpers import ADAPTER, small_registry

BAR_MARKS = ("\r", "%|", "it/s]")


def test_hub_calls_draw_no_bars_into_logs(
    hub, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr captured (not a terminal): a pull draws no bar, and the bars come back after."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    reg = small_registry(tmp_path / "reg")
    repo = hub.repo_name("quiet")
    publish_adapter(reg, ADAPTER, repo)
    small_registry(tmp_path / "other")
    capfd.readouterr()
    pull_adapter(Registry.open(tmp_path / "other"), repo, name="quietly")
    assert not any(mark in capfd.readouterr().err for mark in BAR_MARKS)
    assert not are_progress_bars_disabled()  # switched off for the calls only
    # the same pull without the guard draws huggingface_hub's bars: the check above can fail
    monkeypatch.setattr(hubcalls, "quiet_hub_bars", contextlib.nullcontext)
    pull_adapter(Registry.open(tmp_path / "other"), repo, name="loudly")
    assert any(mark in capfd.readouterr().err for mark in BAR_MARKS)


def test_a_user_choice_of_bars_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_DISABLE_PROGRESS_BARS=0 in the library is the user's call (the CLI overrides it)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_PROGRESS_BARS", False)
    with hubcalls.quiet_hub_bars():
        assert not are_progress_bars_disabled()
