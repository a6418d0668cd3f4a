"""Shared fixtures: the real data in ../shared, a real tansu broker, one SparkSession; and how
`make test` spreads the suite over parallel workers (pytest-xdist, ``--dist loadgroup``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from msb import paths
from msb.broker import EmbeddedBroker

# Test groups, longest first: a group runs on one worker (its module and session fixtures, a Spark
# session, a broker, stay shared within it) and the longest start first, so the suite ends when
# its longest group does. Most of the suite waits on subprocesses (images building, pipelines
# running, Spark starting) rather than computing, so a few workers overlap those waits.
GROUP_ORDER = ("images", "bootcamp", "app", "stream", "pipeline_metrics", "crossmatch", "replay", "broker", "k8s",
               "tree", "core", "filters")


def _group(path: Path) -> str:
    parts = path.relative_to(paths.REPO_ROOT).parts
    if "pipeline_metrics" in path.name:
        return "pipeline_metrics"  # a whole pipeline under Prometheus: long, and apart from the k8s checks
    if parts[0] != "tests":
        return "filters"  # the filters' own tests, beside them
    return parts[1] if len(parts) > 2 else "tree"  # tests/<component>/..., or tests/test_*.py (whole-tree checks)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(GROUP_ORDER)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item.path)))
    items.sort(key=lambda item: rank.get(_group(item.path), len(rank)))  # stable: file order kept within a group


class _GroupsApplied:
    """Fails the run when xdist did not turn the group marks into work units: pytest 9.2 stopped reading
    the node id xdist 3.8 rewrites, and the groups' module fixtures then ran on several workers at once."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if getattr(config.option, "loadgroup", False) and items and "@" not in items[0].nodeid:
            raise pytest.UsageError(f"pytest-xdist's loadgroup did not group {items[0].nodeid} "
                                    f"(pytest {pytest.__version__})")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_GroupsApplied(), "msb-groups-applied")


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
