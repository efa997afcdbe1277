from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.sessions import SessionPool
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# ../shared next to the clone; a git worktree elsewhere names it with LEGO_TEST_SHARED_DIR
SHARED = Path(os.environ.get("LEGO_TEST_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared")
MINIF2F_DIR = SHARED / "minif2f"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-replies", metavar="DIR", default=None,
                     help="real-Isabelle tier: write every reply as a replay recording into DIR")


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def fake_server(script: Script) -> Iterator[FakeIsabelleServer]:
    with FakeIsabelleServer(script) as fake:
        yield fake


@pytest.fixture
async def checker(isabelle_settings: IsabelleSettings) -> AsyncIterator[Checker]:
    """The real checker, talking to the fake server (whose replies each test scripts)."""
    async with SessionPool(isabelle_settings) as pool:
        yield Checker(pool, isabelle_settings)
        await pool.drain()


@pytest.fixture
def isabelle_settings(tmp_path: Path, fake_server: FakeIsabelleServer) -> IsabelleSettings:
    return IsabelleSettings(
        server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
        work_dir=tmp_path / "isabelle", workers=1, checks_per_worker=2,
        repair_timeout_s=5, client_deadline_s=10, check_limit_s=5, sledgehammer=False,
    )
