"""``msb`` never drops a command silently: a module that fails to import is an error with its reason."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from msb import cli


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """A real command module whose import fails the way a missing dependency does."""
    (tmp_path / "msb_broken_cmd.py").write_text("import msb_dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    consume = [ep for ep in cli.installed() if ep.name == "consume"]
    return [*consume, EntryPoint(name="frobnicate", value="msb_broken_cmd:register", group=cli.GROUP)]


def test_running_a_command_whose_module_failed_names_module_and_reason(
        broken: list[EntryPoint], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate", "--any", "args"], commands=broken) == cli.UNAVAILABLE
    err = capsys.readouterr().err
    assert "msb_broken_cmd" in err and "No module named 'msb_dependency_not_installed'" in err


def test_help_lists_it_as_unavailable_and_other_commands_work(
        broken: list[EntryPoint], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"], commands=broken)
    out = capsys.readouterr().out
    assert "frobnicate" in out and "UNAVAILABLE: msb_broken_cmd failed to import" in out
    with pytest.raises(SystemExit) as done:
        cli.main(["consume", "--help"], commands=broken)
    assert done.value.code == 0


def test_every_shipped_command_is_declared_and_imports() -> None:
    """Every distribution installed here (make install: all of them) declares its commands as entry
    points, each named in cli.KNOWN with the distribution that declares it."""
    declared = {ep.name: ep.dist.name for ep in cli.installed()}
    assert declared == {name: p.distribution for name, p in cli.KNOWN.items()}
    text = cli.build_parser().format_help()
    assert "UNAVAILABLE" not in text and "Not installed here" not in text
    for name in cli.KNOWN:
        assert name in text


@pytest.mark.parametrize("missing", ["msb-stream", "msb-crossmatch", "msb-app"])
def test_a_command_whose_distribution_is_not_installed_says_which_provides_it(
        missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    """As in an image, which holds only its own component: the command is not listed but answers."""
    present = [ep for ep in cli.installed() if ep.dist.name != missing]
    commands = [name for name, p in cli.KNOWN.items() if p.distribution == missing]
    with pytest.raises(SystemExit):
        cli.main(["--help"], commands=present)
    out = capsys.readouterr().out
    assert f"Not installed here: {', '.join(commands)}" in " ".join(out.split())
    for name in commands:
        folder = cli.KNOWN[name].folder
        assert cli.main([name, "--any", "args"], commands=present) == cli.UNAVAILABLE
        err = " ".join(capsys.readouterr().err.split())
        assert f"msb {name}: not installed here: it is provided by {missing} ({folder}/" in err
        assert f"pip install -e {folder}" in err.replace("'", "")


def test_old_names_are_aliases_of_the_crossmatch() -> None:
    """`msb xmatch` and `msb run --xmatch-port` still work: users type them."""
    parser = cli.build_parser()
    new, old = (parser.parse_args([name, "--catalogs", "/tmp/c"]) for name in ("crossmatch", "xmatch"))
    assert new.func is old.func and new.catalogs == old.catalogs == Path("/tmp/c")
    run = parser.parse_args(["run", "--xmatch-port", "8181"])
    assert run.crossmatch_port == 8181


def test_a_missing_third_party_package_names_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A command that needs a package its image does not carry says how to install it, no traceback."""
    (tmp_path / "msb_lacking_cmd.py").write_text(
        "def register(sub):\n"
        "    sub.add_parser('scale').set_defaults(func=run)\n"
        "def run(args):\n"
        "    import kubernetes_client_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    commands = [EntryPoint(name="scale", value="msb_lacking_cmd:register", group=cli.GROUP)]
    assert cli.main(["scale"], commands=commands) == cli.UNAVAILABLE
    err = capsys.readouterr().err
    assert "msb scale: needs the Python package 'kubernetes_client_not_installed'" in err
    assert "pip install -e 'app[k8s]'" in err
