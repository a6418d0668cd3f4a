"""The ``msb`` command: one entry point, a subcommand per component.

Each component module exposes ``register(subparsers)``; heavy imports (Spark, astropy) happen
inside the command functions so that ``msb --help`` stays instant. A module that fails to import
(a packaging error, a missing dependency) is never dropped silently: its commands stay listed as
unavailable, and running one is an error naming the module and the reason.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module -> the commands its register() adds (known here so a module that fails still has names)
COMMANDS: dict[str, tuple[str, ...]] = {
    "msb.broker": ("broker",),
    "msb_replay.cli": ("replay",),
    "msb.consume": ("consume",),
    "msb.topics": ("topics",),
    "msb_stream.cli": ("stream",),
    "msb_crossmatch.cli": ("catalog", "crossmatch", "xmatch"),  # xmatch: the old name, kept as an alias
    "msb_app.pipeline": ("run",),
    "msb_app.scale": ("scale",),
}
UNAVAILABLE = 2  # exit code of a command whose module failed to import
# command -> the pyproject extra with its dependencies (each container image installs only its own)
EXTRAS = {"broker": "broker", "stream": "stream", "catalog": "crossmatch", "crossmatch": "crossmatch",
          "xmatch": "crossmatch", "consume": "cutouts", "scale": "k8s", "run": "all"}


def _unavailable(sub: argparse._SubParsersAction, module: str, names: tuple[str, ...], exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    for name in names:
        p = sub.add_parser(name, help=f"UNAVAILABLE: {module} failed to import ({reason})", add_help=False)
        p.set_defaults(func=lambda _args, n=name: _fail(n, module, reason), unavailable=True)


def _fail(name: str, module: str, reason: str) -> int:
    print(f"msb {name}: unavailable: module {module} failed to import: {reason}", file=sys.stderr)
    return UNAVAILABLE


def build_parser(commands: dict[str, tuple[str, ...]] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msb",
        description="msb, the mini Spark broker: replay astronomical alert streams into Kafka, filter them "
        "with Spark, crossmatch them with catalogs and classify them early.",
        epilog="Run 'msb COMMAND --help' for the options of one command.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for name, names in (COMMANDS if commands is None else commands).items():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, never fatal to other commands
            _unavailable(sub, name, names, exc)
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None, commands: dict[str, tuple[str, ...]] | None = None) -> int:
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
        if exc.name is None or exc.name.split(".")[0] == "msb":
            raise
        extra = EXTRAS.get(args.command, "all")
        print(f"msb {args.command}: needs the Python package {exc.name!r}, which is not installed here: "
              f"pip install 'msb[{extra}]' (each msb image carries only its own component's packages)",
              file=sys.stderr)
        return UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
