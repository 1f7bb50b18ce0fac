"""Tokens: the client's own are used, and never reach a registry, card, cache, message or traceback.

The whole suite runs with ``HF_TOKEN`` set to a fake token (``tests/conftest.py``); every CLI
run is checked for it, and at the end of the session every file the tests left is.  This
module checks the paths most likely to leak, in one place.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import huggingface_hub.constants
import pytest
from embedreg import Registry
from embedreg.errors import HubAuthError
from embedreg.hub import publish_adapter, pull_adapter, pull_registry, push_registry
from huggingface_hub import HfApi
from huggingface_hub import errors as hf

from hub.helpers import ADAPTER, small_registry
from hubenv import FAKE_TOKEN, HUB_HOME


def files_holding(root: Path, secret: str) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and secret.encode() in p.read_bytes()
    ]


def test_the_fake_token_is_what_the_client_sends(hub) -> None:
    assert os.environ["HF_TOKEN"] == FAKE_TOKEN
    with pytest.raises(hf.HfHubHTTPError) as exc:
        HfApi(token=False).create_repo(hub.repo_name("anonymous"))  # no token: no writes
    assert exc.value.response.status_code == 401
    assert HfApi().create_repo(hub.repo_name("with-token")).repo_id.startswith("alice/")


def test_no_file_written_and_no_message_holds_the_token(
    hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    reg = small_registry(tmp_path / "reg")
    repo = hub.repo_name("tokens")
    publish_adapter(reg, ADAPTER, repo, tag="t")
    other = small_registry(tmp_path / "other")
    other.remove_adapter(ADAPTER)
    pull_adapter(other, repo)
    url = f"hf://{hub.repo_name('tokens-registry')}"
    push_registry(reg, url)
    pull_registry(Registry.open(tmp_path / "copy"), url)
    hub_reg = Registry.open(url)
    hub_reg.set_alias("production", "v1")
    assert cli("--registry", url, "alias", "list", "--json").returncode == 0
    assert cli("--registry", url, "gen", "list", env={"HF_HUB_OFFLINE": "1"}).returncode == 0
    for root in (tmp_path, HUB_HOME):
        assert files_holding(root, FAKE_TOKEN) == []

    wrong = "hf_wrongButPlausible" + "z" * 16
    monkeypatch.setenv("HF_TOKEN", wrong)
    with pytest.raises(HubAuthError) as exc:
        Registry.open(url).document()
    shown = str(exc.value) + "".join(traceback.format_exception(exc.value))
    assert wrong not in shown and FAKE_TOKEN not in shown
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for root in (tmp_path, HUB_HOME):
        assert files_holding(root, wrong) == []
