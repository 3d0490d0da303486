"""The risk engine end to end: an honest account on the README's year of synthetic trades, a
target flip on real data during the February 2018 zero-volume stretch, a strategy that asks
for ten times its cash (one process and the actor graph), and ``--risk conservative`` on the
real CDD BTC/USDT 1h file with every rule on, identical for any number of workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.cli import main
from engine.config import BacktestConfig
from engine.messages import OrderDenied, RiskEvent
from engine.risk import RiskLimits
from engine.run import backtest, run_config
from engine.strategy import Strategy
from tests.kit.actor_cores import run_cores

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
BTC_1H = REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"
HOUR = 3_600_000_000_000


def need_real_data() -> None:
    if not BTC_1H.exists():
        pytest.skip(f"real data not found at {BTC_1H} (../shared/data/real is absent)")


def at(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


# --- the README's year ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_year_of_sma_cross_and_momentum_stays_solvent_and_long_only() -> None:
    # the README's graph example: before the account existed it ended far below zero and the
    # long-only strategies held shorts once equity turned negative
    result = backtest("sma_cross", data="synthetic:trades", symbols=["BTC/USDT", "ETH/USDT"],
                      strategies=[{"strategy": "sma_cross"}, {"strategy": "momentum"}],
                      max_open_positions=3, max_gross_exposure=1.0, batch=True)
    # two symbols' year of trades at 20 a minute: ~21 million, a little less in a calm year
    assert result.metrics["events"] > 18_000_000
    assert result.equity["equity"].min() >= 0.0
    assert result.equity["cash"].min() >= 0.0
    assert (result.trades["direction"] == "LONG").all()
    assert len(result.trades) > 1000


# --- a target flip while an order is working --------------------------------------------------


class Targets(Strategy):
    """Targets a share of equity at the bars closing at the given times."""

    name = "targets"
    SCHEDULE: ClassVar[dict[int, float]] = {}

    def on_bar(self, bar: Any) -> None:
        fraction = self.SCHEDULE.get(bar.ts_event)
        if fraction is not None:
            self.ctx.order_target_percent(fraction, bar.close)


@pytest.mark.real_data
def test_a_target_flip_during_the_zero_volume_stretch_leaves_one_net_order() -> None:
    need_real_data()
    # 2018-02-08 01:00 to 2018-02-09 09:00: the file holds zero-volume bars; the first bar with
    # volume opens at 10:00. Long half the equity first; then, inside the stretch, a target of
    # 0 (a sell that cannot fill) and, two bars later, a target back near the position.
    Targets.SCHEDULE = {at("2018-02-07 12:00"): 0.5, at("2018-02-09 04:00"): 0.0,
                        at("2018-02-09 06:00"): 0.499}
    result = backtest(Targets, data=str(BTC_1H), start="2018-02-01", end="2018-02-11",
                      capital=10_000)
    fills = result.fills
    ten = at("2018-02-09 10:00")
    first = fills[fills["ts"] < ten]
    assert len(first) == 1 and first["side"].iloc[0] == "BUY"
    held = first["qty"].iloc[0]
    at_ten = fills[fills["ts"] == ten]
    # one net order at 10:00 (the small change the flip needs: the equity moved while the
    # position was held), not a sell of the whole position and a buy of nearly all of it back
    assert len(at_ten) == 1, at_ten
    assert at_ten["qty"].iloc[0] < 0.03 * held
    # fees: the entry's and a few hundredths of it, not two orders of the whole position
    assert result.metrics["total_fees"] < first["fee"].sum() * 1.05
    assert len(result.trades) == 0   # still long: no round trip closed


# --- ten times the cash -----------------------------------------------------------------------


class TenTimesCash(Strategy):
    """Buys ten times what its equity affords on every event."""

    name = "ten_times_cash"

    def on_price(self, price: float) -> None:
        self.ctx.buy(10.0 * self.ctx.equity / price)


def _ten_times_engine(limits: RiskLimits) -> BacktestEngine:
    from engine.data.schema import BAR
    from tests.kit.scripted import bar_table

    rows = [(100.0 + i % 7, 101.0 + i % 7, 99.0 + i % 7, 100.5 + i % 7, 1e6) for i in range(60)]
    engine = BacktestEngine(capital=10_000.0, risk_limits=limits)
    engine.add_feed(Feed("BTCUSDT", BAR, bar_table(rows), interval_ns=60_000_000_000))
    engine.add_strategy(TenTimesCash(), "BTCUSDT")
    return engine


@pytest.mark.parametrize("mode", ["deny", "reduce"])
def test_ten_times_the_cash_is_denied_or_reduced_on_every_attempt(mode: str) -> None:
    engine = _ten_times_engine(RiskLimits(on_insufficient=mode))
    cash_seen: list[float] = []
    on_fill = engine._on_fill

    def watching(event: Any) -> None:
        on_fill(event)
        cash_seen.append(engine.portfolio.cash)

    engine.venue.on_fill = watching
    engine.run()
    denied = [e for e in engine.order_events if type(e) is OrderDenied]
    reduced = [e for e in engine.order_events if type(e) is RiskEvent
               and e.kind == "order_reduced"]
    attempts = 60
    if mode == "deny":
        assert len(denied) == attempts and not engine.fills
        assert all(e.reason.startswith("insufficient_buying_power") for e in denied)
    else:
        # every attempt is cut to what the free cash buys; once it is spent, denied
        assert len(reduced) + len(denied) == attempts and reduced
        assert all(e.reason.startswith("insufficient_buying_power") for e in reduced + denied)
    assert min(cash_seen, default=0.0) >= 0.0 and engine.portfolio.cash >= 0.0
    assert engine.portfolio.equity() > 0.0


def test_ten_times_the_cash_on_the_graph_equals_one_process() -> None:
    # the same through the actor graph's cores (real ZeroMQ, no Ray): a batch-path strategy
    # that buys ten times the capital, the execution core's account, the risk core's audit
    config = BacktestConfig.from_dict({
        "data": "synthetic:trades", "symbols": ["BTC/USDT", "ETH/USDT"],
        "start": "2024-01-01", "end": "2024-01-01T04:00",
        "strategies": [{"strategy": "tests.kit.strategies:TenTimesCash",
                        "params": {"capital": 10_000, "every": 2000}},
                       {"strategy": "momentum", "params": {"lookback": 20}}],
        "capital": 10_000, "on_insufficient": "reduce"})
    reference = run_config(config)
    outcome = run_cores(config, workers=2, batch_rows=4096)
    theirs, ours = outcome.result.to_dict(), reference.to_dict()
    theirs.pop("timing"), ours.pop("timing")
    assert theirs == ours
    assert outcome.audit is not None and outcome.audit.mismatches == 0
    ten = [e for e in reference.risk_events if e.kind == "order_reduced"
           and e.scope.startswith("ten_times_cash")]
    asks = reference.fills[reference.fills["strategy_id"].str.startswith("ten_times_cash")]
    assert ten and reference.risk["denials"].get("insufficient_buying_power", 0) > 0
    assert asks["qty"].max() < 10 * 10_000 / asks["price"].min() / 10   # never near 10x
    assert reference.equity["cash"].min() >= 0.0


# --- --risk conservative on the real file, every worker count ---------------------------------


@pytest.mark.real_data
def test_risk_conservative_prints_the_risk_section(capsys: pytest.CaptureFixture[str]) -> None:
    need_real_data()
    code = main(["backtest", "--risk", "conservative", "--data", str(BTC_1H), "--quiet"])
    assert code == 0
    code = main(["backtest", "--risk", "conservative", "--data", str(BTC_1H)])
    out = capsys.readouterr().out
    assert code == 0
    for text in ("Risk (spot account, preset conservative)", "Orders denied", "Breaker trips",
                 "Time ACTIVE / REDUCING / HALTED", "Peak leverage",
                 "Margin calls / liquidations"):
        assert text in out


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for this module's graph runs (the command line leaves a Ray it did not
    start running, so its runs share this one)."""
    pytest.importorskip("ray")
    from actors.graph import ensure_ray
    from actors.ray_session import stop_local_ray

    ensure_ray(num_cpus=2)
    try:
        yield
    finally:
        stop_local_ray()


@pytest.mark.slow
@pytest.mark.real_data
def test_every_rule_on_gives_identical_results_for_any_worker_count(
        tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture[str]) -> None:
    need_real_data()
    args = ["--risk", "conservative", "--data", str(BTC_1H), "--start", "2019-01-01",
            "--end", "2021-01-01", "--strategy", "sma_cross", "--strategy", "momentum",
            "--strategy", "bollinger_reversion", "--max-open-positions", "2",
            "--max-order-notional", "50000", "--max-cost-bps", "5",
            "--risk-set", "max_net_exposure=0.4", "--risk-set", "volatile_scale=0.5",
            "--risk-set", "block_regime=HIGHLY_VOLATILE", "--quiet"]
    outputs = {}
    for workers in ("0", "1", "2", "4"):
        out = tmp_path / f"w{workers}"
        code = main(["backtest", *args, "--workers", workers, "--output", str(out)])
        assert code == 0, capsys.readouterr().err
        result = json.loads((out / "result.json").read_text())
        result.pop("timing")
        outputs[workers] = (result, (out / "trades.csv").read_text(),
                            (out / "fills.csv").read_text())
    assert outputs["0"] == outputs["1"] == outputs["2"] == outputs["4"]
    risk = outputs["0"][0]["risk"]
    assert risk["preset"] == "conservative" and risk["n_denied"] > 0
    assert len(risk["rules"]) >= 12


@pytest.mark.slow
def test_ten_times_the_cash_on_a_ray_graph_equals_one_process(local_ray: None) -> None:
    # the same on a local Ray: actors, object store and all
    from actors.graph import run_graph

    config = BacktestConfig.from_dict({
        "data": "synthetic:trades", "symbols": ["BTC/USDT", "ETH/USDT"],
        "start": "2024-01-01", "end": "2024-01-01T04:00",
        "strategies": [{"strategy": "tests.kit.strategies:TenTimesCash",
                        "params": {"capital": 10_000, "every": 2000}}],
        "capital": 10_000, "on_insufficient": "deny"})
    reference = run_config(config)
    result = run_graph(config, workers=2)
    theirs, ours = result.to_dict(), reference.to_dict()
    theirs.pop("timing"), ours.pop("timing")
    assert theirs == ours
    # deny: every attempt refused, nothing bought, the account untouched
    assert reference.fills.empty
    assert reference.risk["denials"] == {"insufficient_buying_power":
                                         reference.risk["n_denied"]} != {}
    assert result.timing["risk_audit"]["mismatches"] == 0
