"""Shared fixtures: the real data in ../shared, a real tansu broker, one SparkSession."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from msb import paths
from msb.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def shared() -> Path:
    path = paths.shared_dir()
    if not (path / "data").is_dir():
        pytest.fail(f"shared data not found at {path}; set MSB_SHARED")
    return path


@pytest.fixture(scope="session")
def ztf_night(shared: Path) -> Path:
    return paths.ztf_night()


@pytest.fixture(scope="session")
def rubin_dir(shared: Path) -> Path:
    return paths.rubin_alerts()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real ``msb broker`` process (tansu behind msb's front) for the whole session (topics are unique per test)."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log=log) as b:
        yield b


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession per test session (it costs ~20 s to start)."""
    from msb_stream.session import build_session

    session = build_session(master="local[2]", app_name="msb-tests")
    yield session
    session.stop()
