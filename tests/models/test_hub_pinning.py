"""Generations from the Hub: a branch or tag pinned to its commit, downloads at that commit,
and ``check_updates`` when the branch moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg import Registry
from embedreg.errors import HubRevisionNotFound
from embedreg.models import Encoder, check_updates, model_folder, pin_model, register_model
from huggingface_hub import CommitOperationAdd, HfApi

from hub.helpers import upload_model


def test_a_branch_is_pinned_to_its_head_and_downloads_stay_pinned(
    hub, tmp_path: Path, v2_dir: Path
) -> None:
    fork, head = upload_model(hub, v2_dir)
    api = HfApi()
    api.create_tag(fork, tag="v1.0", revision=head)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    gen = register_model(reg, "v2", fork, device="cpu")  # no revision: main's head
    assert gen.source.revision == head and gen.source.resolved_from == "main"
    tagged = pin_model("v2-tag", fork, revision="v1.0", fingerprint=False)
    assert tagged.pin == gen.pin and tagged.source.resolved_from == "v1.0"
    assert pin_model("v2-c", fork, revision=head, fingerprint=False).source.resolved_from is None
    with pytest.raises(HubRevisionNotFound, match="no revision 'nope'"):
        pin_model("v2-x", fork, revision="nope", fingerprint=False)
    assert check_updates(reg)[0].moved is False
    # the branch moves on: the pin does not, and check_updates says so
    config = json.loads((v2_dir / "config.json").read_text())
    config["note"] = "changed upstream"
    api.create_commit(
        fork, [CommitOperationAdd("config.json", json.dumps(config).encode())], commit_message="c"
    )
    new_head = api.model_info(fork).sha
    (update,) = check_updates(reg)
    assert (update.generation, update.ref, update.pinned, update.current) == (
        "v2",
        "main",
        head,
        new_head,
    )
    assert update.moved and update.to_dict()["moved"] is True
    folder = model_folder(reg.generation("v2"))
    assert folder.name == head  # the snapshot of the pinned commit, not the branch's
    assert "note" not in json.loads((folder / "config.json").read_text())
    vectors = Encoder(reg.generation("v2"), device="cpu").encode(["a pinned model"])
    assert vectors.shape == (1, 384)
