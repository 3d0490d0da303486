"""The ``raytrader strategies`` command: what strategies there are and how to configure them.

    raytrader strategies [list]       every built-in: summary line, parameters, defaults, ranges
    raytrader strategies show NAME    one strategy's full description and parameter table

``NAME`` is a built-in name (``sma_cross``), an alias of one (``sma_crossover``) or a
``module:Class`` reference. A built-in whose module fails to import is listed with its error
instead of stopping the listing.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.cli import EXIT_OK, EXIT_USAGE
from engine.strategy import (BUILTIN_STRATEGIES, STRATEGY_ALIASES, ParamSpec, Strategy,
                             builtin_name, load_strategy)


def add_strategies_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``strategies`` (and its ``list`` and ``show NAME`` actions) on an argparse
    subparsers object; the parser's ``func`` default is :func:`main`."""
    parser = subparsers.add_parser(
        "strategies", help="list the built-in strategies and their parameters",
        description="List the built-in strategies with their parameters, defaults and "
                    "allowed ranges, or show one strategy in full.")
    actions = parser.add_subparsers(dest="strategies_command", metavar="ACTION")
    actions.add_parser("list", help="every built-in strategy (the default action)")
    show = actions.add_parser("show", help="one strategy's description and parameters")
    show.add_argument("name", metavar="NAME", help="built-in name, alias or module:Class")
    parser.set_defaults(func=main)
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the command described by ``args``; returns the exit code."""
    if getattr(args, "strategies_command", None) == "show":
        return show_strategy(args.name)
    list_strategies()
    return EXIT_OK


def list_strategies(console: Console | None = None) -> None:
    """A table of every built-in strategy: name, summary line and parameters."""
    console = console or Console()
    table = Table(title="Built-in strategies", title_justify="left", show_lines=True)
    table.add_column("strategy", style="bold", no_wrap=True)
    table.add_column("description")
    table.add_column("parameters (default, allowed range)")
    aliases: dict[str, list[str]] = {}
    for alias, name in STRATEGY_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    for name in BUILTIN_STRATEGIES:
        label = Text(name)
        for alias in aliases.get(name, []):
            label.append(f"\nalias: {alias}", style="not bold italic")
        try:
            cls = load_strategy(name)
            summary = Text(_summary(cls))
            params = Text("\n".join(_param_line(spec) for spec in cls.Params.specs())
                          or "(none)")
        except Exception as exc:  # the guard around user code: list, go on
            summary = Text(f"unavailable: {exc}", style="red")
            params = Text("")
        table.add_row(label, summary, params)
    console.print(table)


def show_strategy(name: str, console: Console | None = None,
                  errors: Console | None = None) -> int:
    """Print one strategy's module docstring and parameter table; 2 if it cannot be loaded."""
    console = console or Console()
    errors = errors or Console(stderr=True)
    builtin = builtin_name(name)
    if builtin not in BUILTIN_STRATEGIES and ":" not in name:
        errors.print(Text(f"error: unknown strategy {name!r}; built-in strategies: "
                          f"{', '.join(BUILTIN_STRATEGIES)}; aliases: "
                          f"{', '.join(STRATEGY_ALIASES)} (or give module:Class)"),
                     soft_wrap=True)
        return EXIT_USAGE
    try:
        cls = load_strategy(name)
    except Exception as exc:  # the guard around user code
        errors.print(Text(f"error: {exc}"), soft_wrap=True)
        return EXIT_USAGE
    ref = BUILTIN_STRATEGIES.get(builtin, name)
    alias = f", under the alias {name!r}" if builtin != name else ""
    console.print(Text(f"{cls.name} ({ref}){alias}", style="bold"))
    console.print()
    console.print(Text(_module_doc(cls) or "(no description)"), soft_wrap=True)
    console.print()
    table = Table(title="Parameters", title_justify="left")
    for column in ("name", "type", "default", "allowed", "description"):
        table.add_column(column, no_wrap=column != "description")
    for spec in cls.Params.specs():
        table.add_row(Text(spec.name), Text(_type_name(spec.type)), Text(_value(spec.default)),
                      Text(_allowed(spec)), Text(spec.doc))
    if not cls.Params.specs():
        table.add_row("(none)", "", "", "", "")
    console.print(table)
    return EXIT_OK


def _module_doc(cls: type[Strategy]) -> str:
    module = inspect.getmodule(cls)
    doc = inspect.getdoc(module) if module is not None else None
    return doc or inspect.getdoc(cls) or ""


def _summary(cls: type[Strategy]) -> str:
    """The first sentence of the strategy module's docstring (its first paragraph may wrap)."""
    paragraph = " ".join(_module_doc(cls).split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return paragraph[:end + 1] if end >= 0 else paragraph


def _param_line(spec: ParamSpec) -> str:
    return f"{spec.name} = {_value(spec.default)}  {_allowed(spec)}"


def _allowed(spec: ParamSpec) -> str:
    return "true or false" if spec.type is bool else spec.describe_range()


def _value(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))
