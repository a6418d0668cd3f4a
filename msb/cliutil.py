"""Small helpers shared by the subcommands' argument parsers, and the one way a component's config
becomes its command line and back.

A component's config is a dataclass whose fields are declared with :func:`option`: the field holds
the option's default and help, its flag is the field's name (``fresh_ids`` -> ``--fresh-ids``), so
each option is written once. :class:`CliConfig` gives such a dataclass ``add_arguments(parser)``
(the component's parser), ``from_args(namespace)`` (what it parsed) and ``to_args()`` (the
arguments that parse back to an equal config: what ``msb run`` starts a stage with). Fields
declared without :func:`option` are in-process settings only (no flag; ``to_args`` leaves them out).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

C = TypeVar("C", bound="CliConfig")
_MISSING: Any = dataclasses.MISSING


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one worth reading (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


class Composite(Protocol):
    """An option whose value several flags set (e.g. the replay's pace: --rate N, --speed X, ...)."""

    def add(self, group: Any, default: Any) -> None: ...

    def value(self, ns: argparse.Namespace) -> Any: ...

    def args(self, value: Any) -> list[str]: ...


@dataclasses.dataclass(frozen=True)
class Opt:
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    choices: Sequence[str] | None = None
    nargs: str | None = None  # "+": a list after one flag
    action: Any = None  # "store_true", "append" (a list or dict, one flag per item), argparse.BooleanOptionalAction
    render: Callable[[Any], str] = str  # a value (or one item) back to the text `type` parses
    collect: Callable[[Any], Any] | None = None  # what argparse gathered -> the field's value
    section: str | None = None  # argument group (a heading in --help)
    exclusive: str | None = None  # options of one name exclude each other
    deprecated: tuple[str, ...] = ()  # former spellings: still accepted, hidden, with a warning
    always: bool = False  # written by to_args even at its default (a default read from the environment)
    composite: Composite | None = None


def option(help: str, *, default: Any = _MISSING, default_factory: Any = _MISSING, **kw: Any) -> Any:
    """A config field that is a command-line option ``--<field-name>``."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"option": Opt(help, **kw)})


def nested(cls: type) -> Any:
    """A field holding another options dataclass, whose options are flattened into the parser."""
    return dataclasses.field(default_factory=cls, metadata={"nested": cls})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def deprecated_action(base: type[argparse.Action], new: str, prog: str) -> type[argparse.Action]:
    """``base``, also printing that the spelling used is deprecated in favour of ``new``."""

    class Deprecated(base):  # type: ignore[valid-type, misc]
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                     option_string: str | None = None) -> None:
            print(f"{prog}: {option_string} is deprecated and will go: use {new}", file=sys.stderr)
            super().__call__(parser, namespace, values, option_string)

    return Deprecated


def _default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def _options(cls: type) -> list[tuple[dataclasses.Field, Opt]]:
    """Every option of ``cls``, nested ones included (their fields carry their own Opt)."""
    out: list[tuple[dataclasses.Field, Opt]] = []
    for f in dataclasses.fields(cls):
        if "nested" in f.metadata:
            out += _options(f.metadata["nested"])
        elif "option" in f.metadata:
            out.append((f, f.metadata["option"]))
    return out


class CliConfig:
    """Mixed into a component's config dataclass: its command line, parsed and written back."""

    prog: ClassVar[str] = "msb"  # names the command in deprecation warnings

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        sections: dict[str | None, Any] = {None: parser}
        exclusive: dict[str, Any] = {}
        for f, o in _options(cls):
            if o.section not in sections:
                sections[o.section] = parser.add_argument_group(o.section)
            group = sections[o.section]
            if o.exclusive:
                if o.exclusive not in exclusive:
                    exclusive[o.exclusive] = group.add_mutually_exclusive_group()
                group = exclusive[o.exclusive]
            default = _default(f)
            if o.composite is not None:
                o.composite.add(group, default)
                continue
            kw: dict[str, Any] = {"dest": f.name, "help": o.help}
            if default is _MISSING:
                kw["required"] = True
            elif isinstance(default, (list, dict)):  # start empty in the parser; from_args fills in the default
                kw["default"] = None
            else:  # a default in its own words (2MiB) where there are some: argparse parses it with `type`
                kw["default"] = o.render(default) if o.render is not str and default is not None else default
            if o.action is not None:
                kw["action"] = o.action
            if o.action not in ("store_true", argparse.BooleanOptionalAction):
                kw.update({k: v for k, v in (("metavar", o.metavar), ("type", o.type), ("choices", o.choices),
                                             ("nargs", o.nargs)) if v is not None})
            group.add_argument(flag(f.name), **kw)
            for old in o.deprecated:
                base = parser._registry_get("action", o.action or "store", o.action)  # type: ignore[attr-defined]
                alias = {k: v for k, v in kw.items() if k not in ("required", "help", "default")}
                parser.add_argument(old, **{**alias, "action": deprecated_action(base, flag(f.name), cls.prog),
                                            "help": argparse.SUPPRESS, "default": argparse.SUPPRESS})

    @classmethod
    def from_args(cls: type[C], ns: argparse.Namespace) -> C:
        return _build(cls, ns)  # type: ignore[return-value]

    def to_args(self) -> list[str]:
        """The command-line arguments that parse back to this config (options at their default left out)."""
        args: list[str] = []
        for f, o, value in _values(self):
            default = _default(f)
            if value == default and default is not _MISSING and not o.always:
                continue
            name = flag(f.name)
            if o.composite is not None:
                args += o.composite.args(value)
            elif o.action == "store_true":
                args += [name] if value else []
            elif o.action is argparse.BooleanOptionalAction:
                args.append(name if value else "--no-" + name[2:])
            elif value is None and o.render is str:
                raise ValueError(f"{name}: None cannot be written on a command line (its default is {default!r})")
            elif o.action == "append":
                items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else value
                for item in items:
                    args += [name, o.render(item)]
            elif o.nargs:
                args += [name, *map(o.render, value)]
            else:
                args += [name, o.render(value)]
        return args


def _build(cls: type, ns: argparse.Namespace) -> Any:
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "nested" in f.metadata:
            kw[f.name] = _build(f.metadata["nested"], ns)
            continue
        o = f.metadata.get("option")
        if o is None:
            continue
        value = o.composite.value(ns) if o.composite is not None else getattr(ns, f.name)
        if o.collect is not None and value is not None:
            value = o.collect(value)
        if value is None and isinstance(_default(f), (list, dict)):
            value = _default(f)
        kw[f.name] = value
    return cls(**kw)


def _values(config: Any) -> list[tuple[dataclasses.Field, Opt, Any]]:
    out = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if "nested" in f.metadata:
            out += _values(value)
        elif "option" in f.metadata:
            out.append((f, f.metadata["option"], value))
    return out


# ----------------------------------------------------------------------------- value types


def port_or_off(text: str) -> int | None:
    """A port number; -1 turns the server off (None)."""
    value = int(text)
    return None if value < 0 else value


def render_port(value: int | None) -> str:
    return "-1" if value is None else str(value)


def comma_list(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE")
    return key, value
