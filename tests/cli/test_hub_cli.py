"""The Hub from the command line: gen add from a repo, check-updates, publish, pull, and the
one-line errors (repo, revision, file, 401, 403, unreachable, conflict) naming the repo."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

from hub.helpers import ADAPTER, one_line_error, small_registry, upload_model


def test_gen_add_pins_the_branch_head_and_check_updates_sees_it_move(
    hub, registry_dir: Path, v2_dir: Path, cli
) -> None:
    repo, head = upload_model(hub, v2_dir)
    assert cli("init").returncode == 0
    added = cli("gen", "add", "v2", repo, "--device", "cpu", "--json")
    assert added.returncode == 0, added.stderr
    info = json.loads(added.stdout)
    assert info["pin"] == f"{repo}@{head}" and info["source"]["resolved_from"] == "main"
    assert info["fingerprint"] is not None  # the model was downloaded (pinned) and loaded
    assert "(from main)" in added.stderr
    quiet = cli("gen", "check-updates")
    assert quiet.returncode == 0 and "0 moved upstream" in quiet.stderr
    HfApi().create_commit(
        repo, [CommitOperationAdd("NOTES.md", b"new upstream")], commit_message="upstream"
    )
    new = HfApi().model_info(repo).sha
    moved = cli("gen", "check-updates", "--json")
    assert moved.returncode == 0, moved.stderr
    (row,) = json.loads(moved.stdout)
    assert row == {
        "generation": "v2",
        "repo_id": repo,
        "ref": "main",
        "pinned": head,
        "current": new,
        "moved": True,
        "error": None,
    }
    table = cli("gen", "check-updates")
    assert "v2" in table.stderr and new[:12] in table.stderr and "1 moved upstream" in table.stderr
    # nothing changed: still pinned to the old head
    shown = json.loads(cli("gen", "show", "v2", "--json").stdout)
    assert shown["pin"] == f"{repo}@{head}"


def test_publish_and_pull_from_the_command_line(hub, tmp_path: Path, cli) -> None:
    small_registry(tmp_path / "reg")
    repo = hub.repo_name("cli-adapter")
    published = cli(
        "--registry", str(tmp_path / "reg"), "adapter", "publish", ADAPTER, "--repo", repo,
        "--revision-tag", "v1", "--json",
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    pub = json.loads(published.stdout)
    assert pub["repo_id"] == repo and pub["tag"] == "v1" and len(pub["commit"]) == 40
    shown = json.loads(
        cli("--registry", str(tmp_path / "reg"), "adapter", "show", ADAPTER, "--json").stdout
    )
    assert shown["published"] == {"repo_id": repo, "commit": pub["commit"], "tag": "v1"}
    small_registry(tmp_path / "other")  # the same pins and recipes (and an adapter of its own)
    other = ["--registry", str(tmp_path / "other")]
    assert cli(*other, "adapter", "rm", ADAPTER).returncode == 0
    pulled = cli(*other, "adapter", "pull", f"{repo}@v1", "--name", "pulled", "--json")
    assert pulled.returncode == 0, pulled.stderr
    rec = json.loads(pulled.stdout)
    assert rec["id"] == "pulled" and rec["published"]["commit"] == pub["commit"]
    conflict = one_line_error(
        cli(
            "--registry",
            str(tmp_path / "reg"),
            "adapter",
            "publish",
            ADAPTER,
            "--repo",
            repo,
            "--revision-tag",
            "v1",
        )
    )
    assert f"Hub repo {repo} has a tag 'v1' already" in conflict


def test_hub_errors_are_one_line_and_name_the_repo(hub, tmp_path: Path, cli) -> None:
    reg = ["--registry", str(tmp_path / "reg")]
    small_registry(tmp_path / "reg")
    model = hub.repo_name("errors")
    HfApi().create_repo(model)

    missing = one_line_error(cli(*reg, "gen", "add", "x", "alice/no-such-model"))
    assert "Hub repo alice/no-such-model was not found" in missing
    revision = one_line_error(cli(*reg, "gen", "add", "x", model, "--revision", "no-such-tag"))
    assert f"Hub repo {model} has no revision 'no-such-tag'" in revision
    no_file = one_line_error(cli(*reg, "adapter", "pull", model))
    assert f"Hub repo {model} has no file 'README.md'" in no_file
    bad_token = "hf_notValid" + "x" * 20
    refused = cli(*reg, "gen", "add", "x", model, env={"HF_TOKEN": bad_token})
    assert f"credentials for Hub repo {model} (401)" in one_line_error(refused)
    forbidden = one_line_error(
        cli(*reg, "adapter", "publish", ADAPTER, "--repo", hub.repo_name("x", owner="bob"))
    )
    assert "may not publish to Hub repo bob/" in forbidden and "(403)" in forbidden
    unreachable = cli(*reg, "gen", "add", "x", model, env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert f"cannot reach the Hub at http://127.0.0.1:9 for Hub repo {model}" in one_line_error(
        unreachable
    )
    # with tracebacks on, the token is still nowhere in the output
    debug = cli(*reg, "gen", "add", "x", model, env={"HF_TOKEN": bad_token, "EMBEDREG_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert bad_token not in debug.stdout + debug.stderr + refused.stderr


def test_an_hf_registry_offline_reads_its_cached_state(hub, tmp_path: Path, cli) -> None:
    url = f"hf://{hub.repo_name('offline-cli')}"
    assert cli("--registry", url, "init").returncode == 0
    assert cli("--registry", url, "alias", "list").returncode == 0  # a read: cached
    offline = cli("--registry", url, "gen", "list", "--json", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 0 and json.loads(offline.stdout) == []
    commit = hub.head(url.removeprefix("hf://")).oid
    assert f"Note: read a cached state of {url}: commit {commit[:12]}" in offline.stderr
    write = cli("--registry", url, "alias", "set", "p", "v1", env={"HF_HUB_OFFLINE": "1"})
    assert "HF_HUB_OFFLINE is set: cannot write" in one_line_error(write)
