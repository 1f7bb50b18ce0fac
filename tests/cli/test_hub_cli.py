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


#: What a progress bar (tqdm's or anyone's) leaves in a captured stream.
BAR_MARKS = ("\r", "%|", "it/s]", "█")
#: A user who asked huggingface_hub for its bars: --json runs and logs still get none.
BARS_ON = {"HF_HUB_DISABLE_PROGRESS_BARS": "0"}


def only_json(result) -> object:
    """The command's stdout, which must be one JSON value; its stderr must hold no bar."""
    assert result.returncode == 0, result.stderr
    assert not any(mark in result.stderr for mark in BAR_MARKS), result.stderr
    return json.loads(result.stdout)


def test_publish_and_pull_from_the_command_line(hub, tmp_path: Path, cli) -> None:
    small_registry(tmp_path / "reg")
    repo = hub.repo_name("cli-adapter")
    published = cli(
        "--registry", str(tmp_path / "reg"), "adapter", "publish", ADAPTER, "--repo", repo,
        "--revision-tag", "v1", "--json", env=BARS_ON,
    )  # fmt: skip
    only_json(published)
    pub = json.loads(published.stdout)
    assert pub["repo_id"] == repo and pub["tag"] == "v1" and len(pub["commit"]) == 40
    shown = json.loads(
        cli("--registry", str(tmp_path / "reg"), "adapter", "show", ADAPTER, "--json").stdout
    )
    assert shown["published"] == {"repo_id": repo, "commit": pub["commit"], "tag": "v1"}
    small_registry(tmp_path / "other")  # the same pins and recipes (and an adapter of its own)
    other = ["--registry", str(tmp_path / "other")]
    assert cli(*other, "adapter", "rm", ADAPTER).returncode == 0
    pulled = cli(*other, "adapter", "pull", f"{repo}@v1", "--name", "pulled", "--json", env=BARS_ON)
    rec = only_json(pulled)
    assert isinstance(rec, dict)
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


def test_json_runs_that_reach_the_hub_print_only_json(hub, tmp_path: Path, cli) -> None:
    """push, pull, a Hub registry read and check-updates: JSON on stdout, no bar on stderr."""
    small_registry(tmp_path / "reg")
    url = f"hf://{hub.repo_name('json-runs')}"
    pushed = only_json(cli("--registry", str(tmp_path / "reg"), "push", url, "--json", env=BARS_ON))
    assert isinstance(pushed, dict) and pushed["adapters"] == [ADAPTER]
    pulled = only_json(
        cli("--registry", str(tmp_path / "copy"), "pull", url, "--json", env=BARS_ON)
    )
    assert isinstance(pulled, dict) and pulled["commit"] == pushed["commit"]
    listed = only_json(cli("--registry", url, "adapter", "list", "--json", env=BARS_ON))
    assert [a["id"] for a in listed] == [ADAPTER]  # type: ignore[union-attr]
    checked = only_json(cli("--registry", url, "gen", "check-updates", "--json", env=BARS_ON))
    assert isinstance(checked, list)


def test_init_private(hub, tmp_path: Path, cli) -> None:
    url = f"hf://{hub.repo_name('private-cli')}"
    made = cli("--registry", url, "init", "--private")
    assert made.returncode == 0, made.stderr
    assert hub.repo(url.removeprefix("hf://")).private is True
    local = one_line_error(cli("--registry", str(tmp_path / "reg"), "init", "--private"))
    assert "cannot be made private" in local and "hf://OWNER/NAME" in local
