"""``raytrader strategies``: the listing of every built-in with its parameters, a module that
fails to import listed with its error, ``show NAME`` in full, and an unknown name refused."""

from __future__ import annotations

import argparse

import pytest

from engine import strategy as strategy_module
from engine.cli.strategies import add_strategies_command, main
from engine.strategy import BUILTIN_STRATEGIES, STRATEGY_ALIASES


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="raytrader")
    add_strategies_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["strategies", *argv])


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich sizes output from COLUMNS when it is not writing to a terminal: keep table cells
    # on one line so the assertions can look for whole phrases
    monkeypatch.setenv("COLUMNS", "400")


def test_the_parser_dispatches_to_main() -> None:
    args = parse()
    assert args.func is main and args.strategies_command is None
    args = parse("show", "grid")
    assert args.strategies_command == "show" and args.name == "grid"


def test_lists_every_builtin_with_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse()) == 0
    out = capsys.readouterr().out
    for name in BUILTIN_STRATEGIES:
        assert name in out
    # the first sentence of each module docstring, and each parameter with default and range
    assert "Grid: buy a fixed quantity at each grid level below an anchor price" in out
    assert "spacing_pct = 1.0  [0.01, 50.0]" in out
    assert "interval = '1d'" in out
    assert "window_s = 20.0  [10.0, 30.0]" in out
    assert "allow_short = False  true or false" in out


def test_a_module_that_fails_to_import_is_listed_with_its_error(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(strategy_module.BUILTIN_STRATEGIES, "broken",
                        "strategies.no_such_module:Nope")
    assert main(parse()) == 0
    out = capsys.readouterr().out
    assert "broken" in out
    assert "cannot import module 'strategies.no_such_module'" in out
    assert "levels = 10  [1, 1000]" in out          # the others are still listed


def test_show_prints_the_whole_docstring_and_the_parameter_table(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse("show", "dca")) == 0
    out = capsys.readouterr().out
    assert "dca (strategies.dca:Dca)" in out
    assert "Take-profit is defined on signal prices, not fills" in out   # deep in the text
    assert "take_profit_pct" in out and "[0.0, 10000.0]" in out
    assert "events the reference high looks back over" in out


def test_show_accepts_a_module_class_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse("show", "strategies.grid:Grid")) == 0
    assert "Fills are market orders at the next event" in capsys.readouterr().out


def test_show_of_an_unknown_name_names_the_valid_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse("show", "gird")) == 2
    captured = capsys.readouterr()
    assert "unknown strategy 'gird'" in captured.err
    assert "grid" in captured.err and "signal_aggregation" in captured.err
    assert captured.out == ""


def test_show_of_a_reference_that_does_not_import_is_an_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse("show", "strategies.no_such_module:Nope")) == 2
    assert "cannot import module 'strategies.no_such_module'" in capsys.readouterr().err


def test_list_is_the_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse()) == 0
    listing = capsys.readouterr().out
    args = parse("list")
    assert args.strategies_command == "list"
    assert main(args) == 0
    assert capsys.readouterr().out == listing


def test_the_listing_shows_each_alias_with_its_builtin(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(parse()) == 0
    rows = capsys.readouterr().out.splitlines()
    for alias, name in STRATEGY_ALIASES.items():
        (at,) = [i for i, row in enumerate(rows) if f"alias: {alias}" in row]
        # the alias line sits right under its built-in's name, in the same table row
        assert rows[at - 1].split("│")[1].strip() == name


@pytest.mark.parametrize("alias, name, ref", [
    ("mean_reversion", "bollinger_reversion", "strategies.bollinger_reversion:"
                                              "BollingerReversion"),
    ("trend_following", "ema_trend", "strategies.ema_trend:EmaTrend"),
    ("sma_crossover", "sma_cross", "strategies.sma_cross:SmaCross"),
])
def test_show_of_an_alias_shows_its_builtin(capsys: pytest.CaptureFixture[str], alias: str,
                                            name: str, ref: str) -> None:
    assert main(parse("show", alias)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{name} ({ref}), under the alias '{alias}'")
    assert main(parse("show", name)) == 0
    # the same description and parameter table as the built-in's own page
    assert capsys.readouterr().out.split("\n", 1)[1] == out.split("\n", 1)[1]
