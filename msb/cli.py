"""The ``msb`` command: one entry point, the subcommands of every installed msb distribution.

Each distribution (the core here, each component in its own folder) declares its subcommands as entry
points of the group ``msb.commands`` in its pyproject.toml: ``name = "module:register"``, where
``register(subparsers)`` adds them. Heavy imports (Spark, astropy) happen inside the command functions
so that ``msb --help`` stays instant. Nothing is dropped silently: a module that fails to import (a
packaging error, a missing dependency) keeps its commands listed as unavailable, running one is an
error naming the module and the reason; a command whose distribution is not installed (each image holds
only its own component) says which distribution provides it and how to install it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import NamedTuple

GROUP = "msb.commands"
UNAVAILABLE = 2  # exit code of a command whose module failed to import or whose distribution is not installed


class Provider(NamedTuple):
    """The distribution that provides a command, its folder in the repository, and the extra its
    optional third-party packages come with."""

    distribution: str
    folder: str
    extra: str | None = None

    def install(self) -> str:
        target = f"'{self.folder}[{self.extra}]'" if self.extra else self.folder
        return f"pip install -e {target}"


# Every command msb ships, in the order `msb --help` lists them: named here so that one whose
# distribution is not installed still answers with what to install.
KNOWN: dict[str, Provider] = {
    "broker": Provider("msb", ".", "broker"),
    "replay": Provider("msb-replay", "services/replay"),
    "consume": Provider("msb", ".", "cutouts"),
    "topics": Provider("msb", "."),
    "stream": Provider("msb-stream", "spark"),
    "catalog": Provider("msb-crossmatch", "services/crossmatch"),
    "crossmatch": Provider("msb-crossmatch", "services/crossmatch"),
    "xmatch": Provider("msb-crossmatch", "services/crossmatch"),  # the old name of crossmatch, an alias
    "run": Provider("msb-app", "app"),
    "scale": Provider("msb-app", "app", "k8s"),
}


def installed() -> list[EntryPoint]:
    """The subcommands the installed distributions declare."""
    return list(entry_points(group=GROUP))


def _unavailable(sub: argparse._SubParsersAction, target: str, names: list[str], exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    module = target.split(":")[0]
    for name in names:
        p = sub.add_parser(name, help=f"UNAVAILABLE: {module} failed to import ({reason})", add_help=False)
        p.set_defaults(func=lambda _args, n=name: _fail(n, module, reason), unavailable=True)


def _fail(name: str, module: str, reason: str) -> int:
    print(f"msb {name}: unavailable: module {module} failed to import: {reason}", file=sys.stderr)
    return UNAVAILABLE


def _not_installed(name: str) -> int:
    provider = KNOWN[name]
    print(f"msb {name}: not installed here: it is provided by {provider.distribution} ({provider.folder}/ in "
          f"the msb repository): {provider.install()} (each msb image holds only its own component)",
          file=sys.stderr)
    return UNAVAILABLE


def _order(item: tuple[str, list[str]]) -> tuple[int, str]:
    known = [list(KNOWN).index(n) for n in item[1] if n in KNOWN]
    return (min(known) if known else len(KNOWN), item[1][0])


def build_parser(commands: Iterable[EntryPoint] | None = None) -> argparse.ArgumentParser:
    """The parser over ``commands`` (default: every installed distribution's)."""
    declared = installed() if commands is None else list(commands)
    targets: dict[str, list[str]] = {}  # "module:register" -> the commands it adds
    dists: dict[str, str] = {}
    for ep in declared:
        targets.setdefault(ep.value, []).append(ep.name)
        if ep.dist is not None:
            dists[ep.value] = ep.dist.name
    missing = [name for name in KNOWN if name not in {ep.name for ep in declared}]
    parser = argparse.ArgumentParser(
        prog="msb",
        description="msb, the mini Spark broker: replay astronomical alert streams into Kafka, filter them "
        "with Spark, crossmatch them with catalogs and classify them early.",
        epilog="Run 'msb COMMAND --help' for the options of one command."
        + (f" Not installed here: {', '.join(missing)} ('msb COMMAND' says what provides it)." if missing else ""),
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for target, names in sorted(targets.items(), key=_order):
        try:
            register = EntryPoint(name=names[0], value=target, group=GROUP).load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, never fatal to other commands
            _unavailable(sub, target, names, exc)
            continue
        before = set(sub.choices)
        register(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(msb_distribution=dists.get(target))
    for name in missing:
        p = sub.add_parser(name, add_help=False)  # without help=: not in the list (the epilog names it)
        p.set_defaults(func=lambda _args, n=name: _not_installed(n), unavailable=True)
    return parser


def _lacking(command: str, distribution: str | None) -> str:
    """How to install what ``command`` lacks."""
    if command in KNOWN:
        return KNOWN[command].install()
    return f"pip install {distribution}" if distribution else "reinstall the distribution that provides it"


def main(argv: list[str] | None = None, commands: Iterable[EntryPoint] | None = None) -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A background job of a non-interactive shell (CI, `make test &`, nohup) starts with SIGINT
        # ignored, and Python then never raises KeyboardInterrupt; every command's clean stop is SIGINT
        # (Ctrl-C, and `msb run` stopping its stages, which are `msb <command>` too).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser(commands)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "unavailable", False):  # an unavailable command's options are unknown
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        top = (exc.name or "msb").split(".")[0]
        if top == "msb" or top.startswith("msb_"):  # msb's own code missing: a bug, not a missing dependency
            raise
        print(f"msb {args.command}: needs the Python package {exc.name!r}, which is not installed here: "
              f"{_lacking(args.command, getattr(args, 'msb_distribution', None))} "
              "(each msb image carries only its own component's packages)", file=sys.stderr)
        return UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
