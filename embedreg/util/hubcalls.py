"""Calls to the Hugging Face Hub: one place that turns the client's errors into embedreg's.

Every subpackage that talks to the Hub (the ``hf`` registry store, Hub
generations, publishing and pulling) wraps its ``huggingface_hub`` calls in
:func:`hub_errors`, so that a missing repo, revision or file, a refused
token (401), a forbidden action (403), an unreachable Hub and a commit
conflict (412 / 409) each reach the user as one typed line naming the repo
and what to do.  Tokens are the client's own (``HF_TOKEN``, or the file
``hf auth login`` writes): embedreg never reads, stores or prints one, and
:func:`scrub` removes the current token from any text taken from a server
reply before it goes into a message.

huggingface_hub's own progress bars never reach logs: inside
:func:`hub_errors` (and :func:`quiet_hub_bars`) they are off whenever stderr
is not a terminal, unless the user asked for them with
``HF_HUB_DISABLE_PROGRESS_BARS=0``.  The command line turns them off
altogether (it shows its own progress, and ``--json`` runs stay clean).

``huggingface_hub`` is imported only when a call is made.

Example:
    >>> from embedreg.errors import HubRepoNotFound
    >>> try:
    ...     with hub_errors("alice/nothing-here"):
    ...         raise LookupError("not a Hub error")   # other exceptions pass through
    ... except LookupError as exc:
    ...     print(type(exc).__name__)
    LookupError
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import (
    HubAuthError,
    HubConflict,
    HubError,
    HubFileNotFound,
    HubPermissionError,
    HubRepoNotFound,
    HubRevisionNotFound,
    HubUnreachable,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "endpoint",
    "hf_api",
    "hub_errors",
    "is_offline",
    "quiet_hub_bars",
    "scrub",
    "translate",
]

_LOGIN_HINT = "log in with 'hf auth login' or set HF_TOKEN to a token that has access"


def hf_api() -> HfApi:
    """A client for ``$HF_ENDPOINT`` (default huggingface.co) with the user's own token."""
    from huggingface_hub import HfApi

    return HfApi()


def endpoint() -> str:
    """The Hub the client talks to (``$HF_ENDPOINT``, else ``https://huggingface.co``)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: the client serves only what it has cached."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def scrub(text: str) -> str:
    """``text`` with the current token (if any) replaced by ``hf_***``."""
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # a broken token file must not hide the error being reported
        token = None
    if token and len(token) >= 4:
        text = text.replace(token, "hf_***")
    return text


def _server_says(exc: BaseException) -> str:
    said = getattr(exc, "server_message", None)
    if not said:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        said = headers.get("X-Error-Message") if headers is not None else None
    return scrub(" ".join(str(said or "").split()))[:200]


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def translate(
    exc: BaseException,
    repo_id: str,
    *,
    revision: str | None = None,
    path: str | None = None,
    action: str = "read",
) -> HubError | None:
    """The embedreg error for a ``huggingface_hub`` (or network) error; ``None`` for others."""
    from huggingface_hub import errors as hf

    where = f"Hub repo {repo_id}"
    at = f" at {revision}" if revision else ""
    if isinstance(exc, hf.GatedRepoError):
        return HubPermissionError(
            f"{where} is gated", f"request access on the Hub, then {_LOGIN_HINT}", repo_id=repo_id
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        return HubRepoNotFound(
            f"{where} was not found on {endpoint()}",
            f"check the repo id; a private repo needs a token with access ({_LOGIN_HINT})",
            repo_id=repo_id,
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubRevisionNotFound(
            f"{where} has no revision {revision!r}"
            if revision
            else f"{where} has no such revision",
            "check the branch, tag or commit (huggingface_hub's HfApi().list_repo_refs lists them)",
            repo_id=repo_id,
        )
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return HubFileNotFound(
            f"{where} has no file {path!r}{at}" if path else f"a file is missing from {where}{at}",
            "check that the repo holds what embedreg expects (it may not be an embedreg repo)",
            repo_id=repo_id,
        )
    if isinstance(exc, (hf.OfflineModeIsEnabled, hf.LocalEntryNotFoundError)):
        if is_offline():
            return HubUnreachable(
                f"HF_HUB_OFFLINE is set and {where}{at} is not in the local cache",
                "unset HF_HUB_OFFLINE to download it once (it is cached afterwards)",
                repo_id=repo_id,
            )
        return HubUnreachable(
            f"cannot reach the Hub at {endpoint()} for {where}",
            "check the network and HF_ENDPOINT; with HF_HUB_OFFLINE=1 cached files are used",
            repo_id=repo_id,
        )
    status = _status(exc)
    if isinstance(exc, hf.HfHubHTTPError) and status is not None:
        said = _server_says(exc)
        detail = f" ({said})" if said else ""
        if status == 401:
            return HubAuthError(
                f"the Hub refused the credentials for {where} (401){detail}",
                _LOGIN_HINT,
                repo_id=repo_id,
            )
        if status == 403:
            return HubPermissionError(
                f"the token may not {action} {where} (403){detail}",
                "use a token with write access to that namespace, or another repo",
                repo_id=repo_id,
            )
        if status in (409, 412):
            return HubConflict(
                f"{where} refused the {action}: {said or 'it conflicts with the current state'} ({status})",
                "another writer changed it; retry",
                repo_id=repo_id,
            )
        return HubError(
            f"the Hub answered {status} to a {action} of {where}{detail}",
            "check the Hub's status and retry",
            repo_id=repo_id,
        )
    if _is_network_error(exc):
        return HubUnreachable(
            f"cannot reach the Hub at {endpoint()} for {where} ({type(exc).__name__})",
            "check the network and HF_ENDPOINT; with HF_HUB_OFFLINE=1 cached files are used",
            repo_id=repo_id,
        )
    return None


def _is_network_error(exc: BaseException) -> bool:
    import httpx2  # the HTTP library of huggingface_hub 2.x

    return isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError))


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr: not a terminal
        return False


@contextmanager
def quiet_hub_bars() -> Iterator[None]:
    """huggingface_hub's progress bars off inside, when stderr is not a terminal (logs, pipes).

    ``HF_HUB_DISABLE_PROGRESS_BARS``, when set either way, is the user's
    choice and is left to decide.  Bars already off stay off.
    """
    if _stderr_is_terminal():
        yield
        return
    from huggingface_hub import constants
    from huggingface_hub.utils.tqdm import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is not None or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


@contextmanager
def hub_errors(
    repo_id: str, *, revision: str | None = None, path: str | None = None, action: str = "read"
) -> Iterator[None]:
    """Run Hub calls; their errors leave as embedreg's typed errors (see :func:`translate`).

    The original exception is not chained (``from None``), so a traceback
    carries nothing from the client's request objects.  huggingface_hub's
    progress bars stay out of logs (:func:`quiet_hub_bars`).
    """
    try:
        with quiet_hub_bars():
            yield
    except HubError:
        raise
    except Exception as exc:
        translated = translate(exc, repo_id, revision=revision, path=path, action=action)
        if translated is None:
            raise
        raise translated from None
