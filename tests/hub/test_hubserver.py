"""The test Hub server speaks the protocol the installed huggingface_hub client uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub import errors as hf


def test_repos_commits_refs_and_downloads(hub) -> None:
    api = HfApi()
    repo = hub.repo_name("protocol")
    api.create_repo(repo)
    with pytest.raises(hf.HfHubHTTPError) as exc:
        api.create_repo(repo)
    assert exc.value.response.status_code == 409
    assert api.create_repo(repo, exist_ok=True).repo_id == repo
    first = api.model_info(repo).sha
    one = api.create_commit(
        repo,
        [CommitOperationAdd("a/b.txt", b"one"), CommitOperationAdd("c.txt", b"c")],
        commit_message="one",
        parent_commit=first,
    )
    # a parent that is not the head any more: 412, nothing written
    with pytest.raises(hf.HfHubHTTPError) as exc:
        api.create_commit(
            repo, [CommitOperationAdd("c.txt", b"late")], commit_message="x", parent_commit=first
        )
    assert exc.value.response.status_code == 412
    api.create_tag(repo, tag="t1", revision=one.oid)
    two = api.create_commit(
        repo, [CommitOperationDelete("a/", is_folder=True)], commit_message="two"
    )
    refs = api.list_repo_refs(repo)
    assert [b.target_commit for b in refs.branches] == [two.oid]
    assert [(t.name, t.target_commit) for t in refs.tags] == [("t1", one.oid)]
    assert [c.commit_id for c in api.list_repo_commits(repo)] == [two.oid, one.oid, first]
    assert {f.path for f in api.list_repo_tree(repo, revision="t1", recursive=True)} >= {
        "a",
        "a/b.txt",
        "c.txt",
    }
    assert Path(hf_hub_download(repo, "a/b.txt", revision="t1")).read_text() == "one"
    assert api.file_exists(repo, "c.txt") and not api.file_exists(repo, "a/b.txt")
    assert [s.rfilename for s in api.model_info(repo, revision=one.oid).siblings] == [
        ".gitattributes",
        "a/b.txt",
        "c.txt",
    ]
    assert hub.history(repo)[0].oid == two.oid


def test_the_clients_typed_errors(hub) -> None:
    api = HfApi()
    repo = hub.repo_name("errors")
    api.create_repo(repo)
    with pytest.raises(hf.RepositoryNotFoundError):
        api.model_info("alice/no-such-repo")
    with pytest.raises(hf.RevisionNotFoundError):
        api.model_info(repo, revision="no-such-branch")
    with pytest.raises(hf.RemoteEntryNotFoundError):
        hf_hub_download(repo, "missing.txt")
    with pytest.raises(hf.HfHubHTTPError) as exc:
        api.create_repo("bob/not-yours")  # alice may not write to bob's namespace
    assert exc.value.response.status_code == 403
    with pytest.raises(hf.HfHubHTTPError) as exc:
        HfApi(token="hf_not_a_known_token").model_info(repo)
    assert exc.value.response.status_code == 401
    private = hub.repo_name("private")
    api.create_repo(private, private=True)
    with pytest.raises(hf.RepositoryNotFoundError):
        HfApi(token=False).model_info(private)  # anonymous: a private repo is not there


def test_a_taken_port_is_one_line_saying_what_to_do() -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "tests.hub.hubserver", "--port", str(port)],  # as README
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1 and run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}") and "--port N" in line
