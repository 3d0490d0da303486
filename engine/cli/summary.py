"""What ``raytrader backtest`` shows: a progress bar while it runs, then the data import
report (on stderr, like ``raytrader data import``) and a summary table (on stdout)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from engine.datasource import describe_market
from engine.data.validate import ImportReport


@contextlib.contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on ``console``; yields the ``progress(done, total)`` callback."""
    with Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("events", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


class _RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Any) -> Text:
        speed = task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "", style="progress.data.speed")


def print_import_reports(result: Any, file: TextIO) -> None:
    """The cleaning report of each imported data file: rows read, kept, dropped and why."""
    for report in result.data.get("import_reports", {}).values():
        print(ImportReport.from_dict(report).summary(), file=file)


def print_summary(result: Any) -> None:
    """A readable summary table of a result on stdout."""
    cfg = result.config
    feeds = result.data["feeds"]
    names = ", ".join(e["strategy"] for e in cfg.strategy_entries())
    title = (f"{names} on {', '.join(f['symbol'] for f in feeds)} "
             f"({feeds[0]['timeframe'] or feeds[0]['kind']}, {result.data['source']})")
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for label, value in result.summary_rows():
        table.add_row(label, value)
    table.add_row("Fills", f"{result.metrics.get('n_fills', 0):,}")
    table.add_row("Fees paid", f"{result.metrics.get('total_fees', 0.0):,.2f}")
    table.add_row("Events", f"{result.metrics.get('events', 0):,}")
    table.add_row("Events per second", f"{result.timing['events_per_second']:,.0f}")
    table.add_row("Config hash", result.config_hash[:16])
    console = Console()
    console.print(table)
    market = describe_market(cfg)
    if market:
        console.print(f"market: {market}", highlight=False, soft_wrap=True)
    moves = market_moves(feeds)
    if moves:
        console.print(f"buy and hold over the run: {moves}", highlight=False, soft_wrap=True)
    if result.risk:
        console.print(risk_table(result.risk))


def market_moves(feeds: list[dict[str, Any]]) -> str:
    """Each symbol's move from its first to its last price (``BTC/USDT -79.0 %``): what the
    market itself did, to read a strategy's return against."""
    moves = [f"{f['symbol']} {f['last_price'] / f['first_price'] - 1:+.1%}".replace("%", " %")
             for f in feeds if f.get("first_price") and f.get("last_price") is not None]
    return ", ".join(moves)


def risk_table(risk: dict[str, Any]) -> Table:
    """The risk section: account, preset, rules on, denials by reason, time in each state,
    breaker trips, peak leverage, margin calls and liquidations."""
    preset = f", preset {risk['preset']}" if risk.get("preset") else ""
    table = Table(title=f"Risk ({risk['account']} account{preset})", show_header=False,
                  title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value", justify="right")
    table.add_row("Rules on", ", ".join(risk["rules"]) or "none")
    denials = risk["denials"]
    table.add_row("Orders denied", f"{risk['n_denied']:,}")
    for code, n in sorted(denials.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {code}", f"{n:,}")
    table.add_row("Orders reduced to fit", f"{risk['n_reduced']:,}")
    for code, n in sorted(risk.get("reductions", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {code}", f"{n:,}")
    trips = ", ".join(f"{k} {v}" for k, v in risk["breaker_trips"].items()) or "none"
    table.add_row("Breaker trips", trips)
    table.add_row("Time ACTIVE / REDUCING / HALTED", " / ".join(
        f"{risk['time_in_state'][s]:.1%}" for s in ("ACTIVE", "REDUCING", "HALTED")))
    table.add_row("Final state", risk["final_state"])
    if risk.get("strategy_halts"):
        table.add_row("Strategy halts", ", ".join(f"{k} {v}" for k, v in
                                                  risk["strategy_halts"].items()))
    table.add_row("Peak leverage", f"{risk.get('peak_leverage', 0.0):.2f}x")
    table.add_row("Margin calls / liquidations",
                  f"{risk['margin_calls']} / {risk['liquidations']}")
    return table


def print_written(folder: Path, files: Sequence[str]) -> None:
    """The files ``--output`` wrote: ``result.json`` (which lists the others), then the tables."""
    paths = [str(folder / name) for name in ("result.json", *files)]
    print(f"wrote {', '.join(paths[:-1])} and {paths[-1]}")
