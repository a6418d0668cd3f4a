"""The ``msb`` command: one entry point, a subcommand per component.

Each component module exposes ``register(subparsers)``; heavy imports (Spark, astropy) happen
inside the command functions so that ``msb --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "msb.broker",
    "msb.replay.cli",
    "msb.consume",
    "msb.stream.cli",
    "msb.crossmatch.cli",
    "msb.pipeline",
    "msb.scale",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msb",
        description="msb, the mini Spark broker: replay astronomical alert streams into Kafka, filter them "
        "with Spark, crossmatch them with catalogs and classify them early.",
        epilog="Run 'msb COMMAND --help' for the options of one command.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a component not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
