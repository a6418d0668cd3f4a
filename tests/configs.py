"""Checks every component's config passes (msb.cliutil.CliConfig): its command line, written by
to_args(), parses back with the component's own `msb <command>` parser to the same config; every
flag is named like its field; a config meant to exercise every option really does."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from msb.cli import build_parser
from msb.cliutil import CliConfig, flag


def command_parser(command: str) -> argparse.ArgumentParser:
    return build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]


def parse(cls: type[CliConfig], command: str, argv: list[str]) -> Any:
    return cls.from_args(build_parser().parse_args([command, *argv]))


def option_values(cfg: Any) -> dict[str, Any]:
    """Every option's value, nested configs flattened (fields without a flag left out)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if "nested" in f.metadata:
            out.update(option_values(getattr(cfg, f.name)))
        elif "option" in f.metadata:
            out[f.name] = getattr(cfg, f.name)
    return out


def assert_round_trip(cfg: CliConfig, command: str) -> list[str]:
    args = cfg.to_args()
    assert all(isinstance(a, str) for a in args), args
    assert parse(type(cfg), command, args) == cfg, args
    return args


def assert_every_option_changed(cfg: Any, default: Any) -> None:
    """``cfg`` sets every option to something other than its default (an option added later must be too)."""
    given, defaults = option_values(cfg), option_values(default)
    assert [name for name, value in given.items() if value == defaults[name]] == []


def assert_flags_named_like_fields(cls: type[CliConfig], command: str, others: frozenset[str] = frozenset()) -> None:
    """Each visible flag of ``msb <command>`` is ``--<field>`` (or ``--no-<field>``) of an option of ``cls``;
    ``others``: the flags' names of a field that several flags set (the replay's pace)."""
    fields = set(option_values(_defaults(cls)))
    for action in command_parser(command)._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
            continue
        assert set(action.option_strings) <= {flag(action.dest), "--no-" + action.dest.replace("_", "-")}, \
            action.option_strings
        assert action.dest in fields | others, action.dest


def _defaults(cls: type) -> Any:
    """An instance with placeholder values for the required options (only its field names are read)."""
    required = {f.name: "x" for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return cls(**required)
