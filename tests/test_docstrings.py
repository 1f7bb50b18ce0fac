"""The examples in docstrings run as written (those not marked ``+SKIP``: they need a model or a registry)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import embedreg
import pytest

import embedreg_cli


def modules() -> list[str]:
    names = []
    for package in (embedreg, embedreg_cli):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            names.append(info.name)
    return sorted(n for n in names if not n.endswith("__main__"))


@pytest.mark.parametrize("name", modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
