"""``msb`` never drops a command silently: a module that fails to import is an error with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from msb import cli


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, ...]]:
    """A real command module whose import fails the way a missing dependency does."""
    (tmp_path / "msb_broken_cmd.py").write_text("import msb_dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return {"msb.consume": ("consume",), "msb_broken_cmd": ("frobnicate",)}


def test_running_a_command_whose_module_failed_names_module_and_reason(
        broken: dict[str, tuple[str, ...]], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate", "--any", "args"], commands=broken) == cli.UNAVAILABLE
    err = capsys.readouterr().err
    assert "msb_broken_cmd" in err and "No module named 'msb_dependency_not_installed'" in err


def test_help_lists_it_as_unavailable_and_other_commands_work(
        broken: dict[str, tuple[str, ...]], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"], commands=broken)
    out = capsys.readouterr().out
    assert "frobnicate" in out and "UNAVAILABLE: msb_broken_cmd failed to import" in out
    with pytest.raises(SystemExit) as done:
        cli.main(["consume", "--help"], commands=broken)
    assert done.value.code == 0


def test_every_shipped_command_imports() -> None:
    parser = cli.build_parser()
    text = parser.format_help()
    assert "UNAVAILABLE" not in text
    for names in cli.COMMANDS.values():
        for name in names:
            assert name in text


def test_old_names_are_aliases_of_the_crossmatch() -> None:
    """`msb xmatch` and `msb run --xmatch-port` still work: users type them."""
    parser = cli.build_parser()
    new, old = (parser.parse_args([name, "--catalogs", "/tmp/c"]) for name in ("crossmatch", "xmatch"))
    assert new.func is old.func and new.catalogs == old.catalogs == "/tmp/c"
    run = parser.parse_args(["run", "--xmatch-port", "8181"])
    assert run.crossmatch_port == 8181
