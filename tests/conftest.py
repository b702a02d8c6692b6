"""Suite-wide pytest options and fixtures.

``--long`` runs the adversarial and fault tests at their full size (the figures
in docs/reliability.md); without it they run in a bounded form that fits CI.
Tests report what they measured through ``record_figure``; the figures are
appended to ``.reliability/figures.jsonl`` (git-ignored) so the report can be
written from a real run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.store import Store

FIGURES = Path(__file__).resolve().parent.parent / ".reliability" / "figures.jsonl"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False,
                     help="run the fault and adversarial suite at full size")


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI commands remember checkpoints per network (client.state); tests never touch the
    user's own state directory, and each test starts with none."""
    monkeypatch.setenv("VCLEDGER_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def long_mode(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--long"))


@pytest.fixture
def record_figure(request: pytest.FixtureRequest, long_mode: bool) -> Callable[..., None]:
    """``record_figure(name, value, **details)``: keep one measured figure of this test."""

    def record(name: str, value: object, **details: object) -> None:
        FIGURES.parent.mkdir(exist_ok=True)
        entry = {"test": request.node.nodeid, "figure": name, "value": value,
                 "long": long_mode, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 **details}
        with FIGURES.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")

    return record


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's LevelDB database goes (created by the ``store`` fixture or the test)."""
    return tmp_path / "db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """A new, empty node database in ``db_path``, closed after the test."""
    opened = Store.open(db_path, create=True)
    yield opened
    opened.close()
