"""A small Hugging Face Hub-protocol server on 127.0.0.1, for tests and the README.

The real ``huggingface_hub`` client talks to it when ``HF_ENDPOINT`` points
at it: create repos, commit (NDJSON, files inline as base64, ``parentCommit``
checked), preupload, model info, refs, commits, tree, paths-info, branches,
tags and ``resolve`` downloads (``HEAD`` and ``GET``, with ranges).  Repos live
in memory; every commit is a full snapshot of the files, so old revisions stay
readable.  Errors carry the ``X-Error-Code`` / ``X-Error-Message`` headers the
client maps to its typed errors (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``; 401 "Invalid credentials", 403, 409, 412).

Tokens: with no ``tokens`` given, any bearer token may write anywhere and
requests without one may only read public repos.  With ``tokens`` (token →
user), other tokens are refused with 401, and a user writes to their own
namespace and to the organisations ``orgs`` lists them in (else 403).  The
server never stores or logs a token.

Run it by hand (the README's Hub section does)::

    python -m tests.hub.hubserver --port 8765

Example:
    >>> server = HubServer().start()   # doctest: +SKIP
    >>> server.url                      # doctest: +SKIP
    'http://127.0.0.1:54321'
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO_TYPES = ("model", "dataset", "space")
_COUNTER = itertools.count(1)
_SALT = f"{time.time_ns()}"


def blob_oid(data: bytes) -> str:
    """The git blob sha1 of ``data`` (what the Hub calls a regular file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    message: str
    author: str
    date: str = field(default_factory=_now)


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    created: str = field(default_factory=_now)

    def commit(
        self, files: dict[str, bytes], parent: str | None, title: str, message: str, author: str
    ) -> Commit:
        digest = hashlib.sha1()
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + blob_oid(files[path]).encode())
        digest.update(f"{parent}\n{title}\n{next(_COUNTER)}\n{_SALT}".encode())
        c = Commit(digest.hexdigest(), parent, files, title, message, author)
        self.commits[c.oid] = c
        return c

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            oid = revision
        return self.commits.get(oid) if oid else None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


class HubState:
    """All repos, guarded by one lock (every request holds it briefly)."""

    def __init__(self, tokens: dict[str, str] | None, orgs: dict[str, set[str]] | None) -> None:
        self.tokens = tokens
        self.orgs = orgs or {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []  # (method, path): what the client asked for
        self.refused: list[tuple[int, str]] = []  # (status, path) of every error answered

    # --- identity ----------------------------------------------------------------------------

    def user(self, auth: str | None) -> str | None:
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        if self.tokens is None:
            return "*"
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def can_write(self, user: str | None, namespace: str) -> bool:
        if user is None:
            return False
        return user == "*" or user == namespace or user in self.orgs.get(namespace, set())

    def repo(self, rtype: str, repo_id: str, user: str | None, *, write: bool = False) -> Repo:
        repo = self.repos.get((rtype, repo_id))
        namespace = repo_id.split("/")[0]
        if repo is None or (repo.private and not self.can_write(user, namespace)):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write:
            self.check_write(user, namespace)
        return repo

    def check_write(self, user: str | None, namespace: str) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write")
        if not self.can_write(user, namespace):
            raise HubError(
                403, f"You don't have the rights to write under the namespace {namespace}"
            )

    # --- operations --------------------------------------------------------------------------

    def create_repo(self, body: dict[str, Any], user: str | None, endpoint: str) -> dict[str, Any]:
        rtype = body.get("type") or "model"
        namespace, name = body.get("organization"), body.get("name")
        if not namespace or not name:
            raise HubError(400, "name and organization are required")
        self.check_write(user, namespace)
        repo_id = f"{namespace}/{name}"
        url = f"{endpoint}/{_url_prefix(rtype)}{repo_id}"
        if (rtype, repo_id) in self.repos:
            raise HubError(409, "You already created this model repo", url=url)
        private = body.get("visibility") == "private" or bool(body.get("private"))
        repo = Repo(rtype, repo_id, private)
        first = repo.commit(
            {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
            None,
            "initial commit",
            "",
            user or "",
        )
        repo.branches["main"] = first.oid
        self.repos[(rtype, repo_id)] = repo
        return {"url": url, "name": repo_id, "id": repo_id}

    def commit(
        self, repo: Repo, revision: str, lines: list[dict[str, Any]], user: str | None
    ) -> Commit:
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first line must be the header")
        header = lines[0]["value"]
        if revision not in repo.branches:
            if repo.resolve(revision) is not None:
                raise HubError(400, f"cannot commit to {revision}: not a branch")
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        parent = header.get("parentCommit")
        if parent is not None and parent != head.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value") or {}
            path = value.get("path", "")
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "only base64 file content is supported")
                files[path] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(
                        404, f"A file with this name doesn't exist: {path}", "EntryNotFound"
                    )
                del files[path]
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                gone = [p for p in files if p.startswith(prefix)]
                if not gone:
                    raise HubError(
                        404, f"A file with this name doesn't exist: {path}", "EntryNotFound"
                    )
                for p in gone:
                    del files[p]
            elif key == "lfsFile":
                raise HubError(400, "this server takes regular files only (no LFS)")
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        c = repo.commit(
            files, head.oid, header.get("summary", ""), header.get("description", ""), user or ""
        )
        repo.branches[revision] = c.oid
        return c


def _url_prefix(rtype: str) -> str:
    return "" if rtype == "model" else f"{rtype}s/"


_API_REPO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # --- plumbing ------------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        content_length: int | None = None,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header(
            "Content-Length", str(len(body) if content_length is None else content_length)
        )
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._json({"error": err.message, **err.extra}, err.status, headers)

    def _handle(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        with state.lock:
            state.requests.append((self.command, url.path))
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        try:
            with state.lock:
                user = state.user(self.headers.get("Authorization"))
                self._route(state, url.path, query, body, user)
        except HubError as err:
            with state.lock:
                state.refused.append((err.status, url.path))
            self._error(err)
        except (ValueError, KeyError) as exc:
            self._error(HubError(400, f"bad request: {exc}"))

    do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = _handle

    # --- routes ----------------------------------------------------------------------------------

    def _route(
        self, state: HubState, path: str, query: dict[str, list[str]], body: bytes, user: str | None
    ) -> None:
        method = self.command
        if path == "/api/agent-harnesses":
            return self._json({"harnesses": []})
        if path == "/api/whoami-v2":
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            return self._json(
                {
                    "type": "user",
                    "name": user,
                    "orgs": [{"name": o} for o, m in state.orgs.items() if user in m],
                }
            )
        if path == "/api/validate-yaml" and method == "POST":
            return self._json({"errors": [], "warnings": []})
        if path == "/api/repos/create" and method == "POST":
            return self._json(state.create_repo(json.loads(body or b"{}"), user, self._endpoint()))
        if path == "/api/repos/delete" and method == "DELETE":
            data = json.loads(body or b"{}")
            repo_id = f"{data['organization']}/{data['name']}"
            state.repo(data.get("type") or "model", repo_id, user, write=True)
            del state.repos[(data.get("type") or "model", repo_id)]
            return self._json({})
        if m := _API_REPO.match(path):
            rtype, repo_id = m.group(1)[:-1], f"{unquote(m.group(2))}/{unquote(m.group(3))}"
            return self._api(state, rtype, repo_id, m.group(4) or "", query, body, user)
        if (m := _RESOLVE.match(path)) and method in ("GET", "HEAD"):
            rtype = (m.group(1) or "models")[:-1]
            repo_id = f"{unquote(m.group(2))}/{unquote(m.group(3))}"
            return self._resolve(
                state, rtype, repo_id, unquote(m.group(4)), unquote(m.group(5)), user
            )
        raise HubError(404, f"no route for {method} {path}")

    def _api(
        self,
        state: HubState,
        rtype: str,
        repo_id: str,
        rest: str,
        query: dict[str, list[str]],
        body: bytes,
        user: str | None,
    ) -> None:
        method = self.command
        action, _, arg = rest.partition("/")
        write = method in ("POST", "PUT", "DELETE") and action not in ("paths-info", "preupload")
        repo = state.repo(rtype, repo_id, user, write=write or action == "preupload")
        if action in ("", "revision") and method == "GET":
            return self._json(self._info(repo, unquote(arg) if action else "main"))
        if action == "refs":

            def refs(kind: str, table: dict[str, str]) -> list[dict[str, str]]:
                return [
                    {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid}
                    for n, oid in sorted(table.items())
                ]

            return self._json(
                {
                    "branches": refs("heads", repo.branches),
                    "tags": refs("tags", repo.tags),
                    "converts": [],
                    "pullRequests": [],
                }
            )
        if action == "commits":
            c = self._commit_at(repo, unquote(arg) or "main")
            history = []
            while c is not None:
                history.append(
                    {
                        "id": c.oid,
                        "title": c.title,
                        "message": c.message,
                        "date": c.date,
                        "authors": [{"user": c.author}],
                    }
                )
                c = repo.commits.get(c.parent) if c.parent else None
            return self._json(history)
        if action == "tree":
            revision, _, sub = arg.partition("/")
            return self._json(
                self._tree(
                    repo,
                    unquote(revision),
                    unquote(sub),
                    "recursive" in query and query["recursive"][0].lower() in ("1", "true"),
                )
            )
        if action == "paths-info" and method == "POST":
            c = self._commit_at(repo, unquote(arg))
            wanted = (
                parse_qs(body.decode()).get("paths", [])
                if body and not body.startswith(b"{")
                else json.loads(body or b"{}").get("paths", [])
            )
            out = []
            for p in wanted:
                if p in c.files:
                    out.append(
                        {
                            "type": "file",
                            "path": p,
                            "size": len(c.files[p]),
                            "oid": blob_oid(c.files[p]),
                        }
                    )
                elif any(f.startswith(p.rstrip("/") + "/") for f in c.files):
                    out.append(
                        {
                            "type": "directory",
                            "path": p,
                            "oid": hashlib.sha1(p.encode()).hexdigest(),
                            "size": 0,
                        }
                    )
            return self._json(out)
        if action == "preupload" and method == "POST":
            head = self._commit_at(repo, unquote(arg))
            files = json.loads(body)["files"]
            return self._json(
                {
                    "files": [
                        {
                            "path": f["path"],
                            "uploadMode": "regular",
                            "shouldIgnore": False,
                            "oid": blob_oid(head.files[f["path"]])
                            if f["path"] in head.files
                            else None,
                        }
                        for f in files
                    ]
                }
            )
        if action == "commit" and method == "POST":
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            c = state.commit(repo, unquote(arg), lines, user)
            return self._json(
                {
                    "commitUrl": f"{self._endpoint()}/{_url_prefix(rtype)}{repo_id}/commit/{c.oid}",
                    "commitOid": c.oid,
                    "success": True,
                }
            )
        if action == "branch":
            name = unquote(arg)
            if method == "POST":
                if name in repo.branches:
                    raise HubError(409, f"Reference refs/heads/{name} already exists")
                start = json.loads(body or b"{}").get("startingPoint") or "main"
                repo.branches[name] = self._commit_at(repo, start).oid
                return self._json({})
            if method == "DELETE":
                repo.branches.pop(name, None)
                return self._json({})
        if action == "tag":
            if method == "POST":
                data = json.loads(body or b"{}")
                tag = data["tag"]
                if tag in repo.tags:
                    raise HubError(409, f"Tag {tag} already exists")
                repo.tags[tag] = self._commit_at(repo, unquote(arg)).oid
                return self._json({})
            if method == "DELETE":
                if repo.tags.pop(unquote(arg), None) is None:
                    raise HubError(404, f"Invalid rev id: {arg}", "RevisionNotFound")
                return self._json({})
        raise HubError(404, f"no route for {method} {rest}")

    def _endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @staticmethod
    def _commit_at(repo: Repo, revision: str) -> Commit:
        c = repo.resolve(revision)
        if c is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return c

    def _info(self, repo: Repo, revision: str) -> dict[str, Any]:
        c = self._commit_at(repo, revision)
        return {
            "id": repo.id,
            "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24],
            "modelId": repo.id,
            "author": repo.id.split("/")[0],
            "sha": c.oid,
            "lastModified": c.date,
            "createdAt": repo.created,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [{"rfilename": p} for p in sorted(c.files)],
        }

    def _tree(self, repo: Repo, revision: str, sub: str, recursive: bool) -> list[dict[str, Any]]:
        c = self._commit_at(repo, revision)
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in c.files):
            raise HubError(404, f"{sub} does not exist on {revision}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(c.files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(
                        folder,
                        {
                            "type": "directory",
                            "path": folder,
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                        },
                    )
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                data = c.files[path]
                entries[path] = {
                    "type": "file",
                    "path": path,
                    "size": len(data),
                    "oid": blob_oid(data),
                }
        return list(entries.values())

    def _resolve(
        self, state: HubState, rtype: str, repo_id: str, revision: str, path: str, user: str | None
    ) -> None:
        repo = state.repo(rtype, repo_id, user)
        c = self._commit_at(repo, revision)
        if path not in c.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data = c.files[path]
        headers = {
            "X-Repo-Commit": c.oid,
            "ETag": f'"{blob_oid(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        rng = self.headers.get("Range")
        if rng and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            part = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
            return self._send(206, part, headers)
        self._send(200, data, headers)


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: HubState, verbose: bool) -> None:
        super().__init__(address, Handler)
        self.state = state
        self.verbose = verbose


class HubServer:
    """The server, started in a background thread: ``HubServer().start()``; ``stop()`` ends it."""

    def __init__(
        self,
        port: int = 0,
        *,
        tokens: dict[str, str] | None = None,
        orgs: dict[str, set[str]] | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = HubState(tokens, orgs)
        self.httpd = HubHTTPServer(("127.0.0.1", port), self.state, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="hubserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- for tests: look inside without the client -------------------------------------------------

    def repo(self, repo_id: str, rtype: str = "model") -> Repo:
        with self.state.lock:
            return self.state.repos[(rtype, repo_id)]

    def head(self, repo_id: str, branch: str = "main") -> Commit:
        repo = self.repo(repo_id)
        with self.state.lock:
            return repo.commits[repo.branches[branch]]

    def history(self, repo_id: str, branch: str = "main") -> list[Commit]:
        """Commits of ``branch``, newest first."""
        repo = self.repo(repo_id)
        out = []
        with self.state.lock:
            c: Commit | None = repo.commits[repo.branches[branch]]
            while c is not None:
                out.append(c)
                c = repo.commits.get(c.parent) if c.parent else None
        return out


def url_for(server: HubServer, repo_id: str, path: str, revision: str = "main") -> str:
    """The ``resolve`` URL of a file (as the client builds it)."""
    return f"{server.url}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"


_REPO_COUNTER = itertools.count(1)


def unique_repo(owner: str, stem: str) -> str:
    """``owner/stem-N``: a repo id used once per server process."""
    return f"{owner}/{stem}-{next(_REPO_COUNTER)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN=USER",
        help="accept only these tokens (repeatable)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    tokens = dict(t.split("=", 1) for t in args.token) or None
    try:
        server = HubServer(args.port, tokens=tokens, verbose=args.verbose)
    except OSError as exc:  # one line, as embedreg's own errors: what is wrong, what to do
        raise SystemExit(
            f"Error: cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); stop the server "
            "already there, or pass --port N and set HF_ENDPOINT=http://127.0.0.1:N"
        ) from None
    print(
        f"Hub-protocol server on {server.url} (set HF_ENDPOINT={server.url}); Ctrl-C stops it",
        flush=True,
    )
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
