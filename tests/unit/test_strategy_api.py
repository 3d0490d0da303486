"""The Strategy API: typed, frozen parameter configs (defaults, text conversion, range and type
checks with errors naming strategy, parameter and allowed values), strategy references and
hook detection."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.errors import ConfigError
from engine.messages import Bar, Quote, Trade
from engine.strategy import (BUILTIN_STRATEGIES, ParamSpec, Strategy, StrategyParams, load_strategy,
                             param)
from engine.venue import VenueConfig
from strategies.momentum import Momentum
from strategies.sma_cross import SmaCross
from tests.kit.scripted import MINUTE, bar_table, quote_table, trade_table


class Knobs(Strategy):
    """A strategy with one parameter of every supported type."""

    name = "knobs"

    class Params(StrategyParams):
        window: int = param(5, low=1, high=100, doc="bars")
        weight: float = param(0.5, low=0.0, high=1.0)
        enabled: bool = param(False)
        mode: str = param("fast", choices=("fast", "slow"))
        count: int = param(0)  # unbounded

    def on_bar(self, bar: Bar) -> None:
        pass


class Unnamed(Strategy):
    pass


# --- defaults and specs -----------------------------------------------------------------------


def test_builtin_defaults() -> None:
    assert SmaCross.Params().to_dict() == {"fast": 10, "slow": 30, "allocation": 0.95,
                                           "allow_short": False}
    assert Momentum.Params().to_dict() == {"lookback": 20, "threshold": 0.01,
                                           "allocation": 0.95, "allow_short": False}


def test_strategy_without_params_gets_the_defaults() -> None:
    assert SmaCross().params == SmaCross.Params()
    assert SmaCross({"fast": 3}).params == SmaCross.Params(fast=3)
    assert Momentum(Momentum.Params(lookback=5)).params.lookback == 5


def test_params_of_another_strategy_are_refused() -> None:
    with pytest.raises(ConfigError, match="'sma_cross' expects"):
        SmaCross(Momentum.Params())


def test_specs_describe_each_parameter_in_order() -> None:
    specs = {s.name: s for s in Knobs.Params.specs()}
    assert list(specs) == ["window", "weight", "enabled", "mode", "count"]
    assert specs["window"] == ParamSpec("window", int, 5, low=1, high=100, doc="bars")
    assert specs["window"].describe_range() == "[1, 100]"
    assert specs["weight"].type is float and specs["enabled"].type is bool
    assert specs["mode"].describe_range() == "one of 'fast', 'slow'"
    assert specs["count"].describe_range() == "any"


def test_strategy_name_defaults_to_the_class_name() -> None:
    assert Unnamed.name == "Unnamed"
    assert Knobs.Params._strategy_name == "knobs"


# --- create(): text conversion, unknown keys, ranges, types ------------------------------------


def test_create_converts_text_values() -> None:
    params = SmaCross.Params.create({"fast": "5", "slow": " 40 ", "allocation": "0.5",
                                     "allow_short": "true"})
    assert params.to_dict() == {"fast": 5, "slow": 40, "allocation": 0.5, "allow_short": True}
    assert type(params.fast) is int and type(params.allocation) is float


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("1", True),
                                        ("yes", True), ("on", True), ("false", False),
                                        ("0", False), ("no", False), ("OFF", False)])
def test_create_converts_bool_words(text: str, value: bool) -> None:
    assert Knobs.Params.create({"enabled": text}).enabled is value


def test_create_converts_whole_float_text_to_int() -> None:
    assert Knobs.Params.create({"window": "7.0"}).window == 7


def test_int_values_given_for_a_float_become_floats() -> None:
    params = Knobs.Params(weight=1)
    assert params.weight == 1.0 and type(params.weight) is float


def test_str_parameter_keeps_text() -> None:
    assert Knobs.Params.create({"mode": "slow"}).mode == "slow"


def test_create_converts_large_int_text_exactly() -> None:
    assert Knobs.Params.create({"count": "9007199254740993"}).count == 9007199254740993


def test_unknown_parameter_names_it_and_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        SmaCross.Params.create({"fats": 5, "slow": 40}, source="run.json")
    text = str(info.value)
    assert "'fats'" in text and "'sma_cross'" in text and "run.json" in text
    assert "valid parameters: fast, slow, allocation, allow_short" in text


def test_unknown_parameters_are_all_named() -> None:
    with pytest.raises(ConfigError, match="'bar', 'foo'"):
        Momentum.Params.create({"foo": 1, "bar": 2})


def test_strategy_built_from_a_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="'window'"):
        SmaCross({"window": 3})


@pytest.mark.parametrize("cls,values,name,allowed", [
    (SmaCross.Params, {"fast": 1}, "fast", "[2, 500]"),
    (SmaCross.Params, {"fast": "501", "slow": 2000}, "fast", "[2, 500]"),
    (SmaCross.Params, {"slow": 2001}, "slow", "[3, 2000]"),
    (SmaCross.Params, {"allocation": 1.5}, "allocation", "[0.01, 1.0]"),
    (SmaCross.Params, {"allocation": "0"}, "allocation", "[0.01, 1.0]"),
    (Momentum.Params, {"lookback": 0}, "lookback", "[1, 2000]"),
    (Momentum.Params, {"threshold": -0.1}, "threshold", "[0.0, 1.0]"),
], ids=lambda v: repr(v) if isinstance(v, dict) else None)
def test_out_of_range_names_strategy_parameter_and_range(cls: type[StrategyParams],
                                                         values: dict, name: str,
                                                         allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        cls.create(values)
    text = str(info.value)
    assert repr(cls._strategy_name) in text
    assert repr(name) in text
    assert allowed in text


def test_choice_outside_the_choices_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'knobs' parameter 'mode'.*one of 'fast', 'slow'"):
        Knobs.Params.create({"mode": "medium"})


@pytest.mark.parametrize("values,name", [
    ({"window": "abc"}, "window"),        # text that is no number
    ({"window": "1.5"}, "window"),        # text of a fraction for an int
    ({"window": 1.5}, "window"),          # a float for an int
    ({"window": 2.0}, "window"),          # even a whole float
    ({"window": True}, "window"),         # a bool is not an int
    ({"weight": True}, "weight"),         # nor a float
    ({"weight": "abc"}, "weight"),
    ({"weight": "nan"}, "weight"),        # floats must be finite
    ({"weight": float("inf")}, "weight"),
    ({"enabled": "maybe"}, "enabled"),
    ({"enabled": 1}, "enabled"),          # an int is not a bool
    ({"window": None}, "window"),
    ({"mode": 3}, "mode"),
], ids=repr)
def test_wrong_type_names_strategy_and_parameter(values: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"strategy 'knobs' parameter '{name}'"):
        Knobs.Params.create(values)


def test_direct_construction_does_not_convert_text() -> None:
    with pytest.raises(ConfigError, match="'fast' must be a finite int"):
        SmaCross.Params(fast="5")


@pytest.mark.parametrize("fast,slow", [(30, 30), (40, 30)])
def test_sma_cross_fast_must_be_shorter_than_slow(fast: int, slow: int) -> None:
    with pytest.raises(ConfigError,
                       match=rf"'sma_cross' parameter 'fast' \({fast}\).*'slow' \({slow}\)"):
        SmaCross.Params(fast=fast, slow=slow)
    with pytest.raises(ConfigError):
        SmaCross.Params.create({"fast": str(fast), "slow": str(slow)})


# --- params are frozen values -----------------------------------------------------------------


def test_params_are_frozen() -> None:
    params = SmaCross.Params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.fast = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        params.extra = 1  # type: ignore[attr-defined]
    assert params.fast == 10


def test_params_are_hashable_and_compare_by_value() -> None:
    a = SmaCross.Params.create({"fast": "5"})
    b = SmaCross.Params(fast=5)
    c = SmaCross.Params(fast=6)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert {a: "run-1"}[b] == "run-1"


# --- hooks ------------------------------------------------------------------------------------


def test_overrides_tells_implemented_hooks() -> None:
    assert SmaCross.overrides("on_price") and SmaCross.overrides("on_start")
    assert not SmaCross.overrides("on_bar") and SmaCross.has_batch_path()
    assert not SmaCross.overrides("on_fill") and not Knobs.has_batch_path()
    assert Knobs.overrides("on_bar") and not Knobs.overrides("on_start")
    assert not Strategy.overrides("on_bar")
    assert not Unnamed.overrides("on_stop")
    assert SmaCross().overrides("on_price")  # also on an instance


def test_overrides_sees_inherited_hooks() -> None:
    class Child(SmaCross):
        def on_fill(self, fill: object) -> None:
            pass

    assert Child.overrides("on_price") and Child.overrides("on_fill")
    assert Child.name == "sma_cross"  # inherited with the Params it validates


# --- references -------------------------------------------------------------------------------


@pytest.mark.parametrize("ref,cls", [
    ("sma_cross", SmaCross), ("momentum", Momentum),
    ("strategies.momentum:Momentum", Momentum), ("strategies.sma_cross:SmaCross", SmaCross),
    (f"{__name__}:Knobs", Knobs),
])
def test_load_strategy_resolves_names_and_references(ref: str, cls: type) -> None:
    assert load_strategy(ref) is cls


def test_every_builtin_resolves() -> None:
    for name, ref in BUILTIN_STRATEGIES.items():
        assert load_strategy(name) is load_strategy(ref)
        assert load_strategy(name).name == name


def test_unknown_name_lists_the_builtins() -> None:
    # every built-in is listed, sorted
    with pytest.raises(ConfigError, match=r"unknown strategy 'smacross'.*\(bollinger_bands, "
                                          r"bollinger_reversion, .*momentum, .*sma_cross, "
                                          r"volume_price_correlation, vwap_reversion\)"):
        load_strategy("smacross")


def test_missing_module_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"cannot import module 'strategies\.no_such_thing'"):
        load_strategy("strategies.no_such_thing:Foo")


@pytest.mark.parametrize("ref", ["strategies.sma_cross:Missing", "engine.messages:Bar",
                                 "strategies.sma_cross:SMA", "strategies.sma_cross:ConfigError",
                                 "strategies.sma_cross:"])
def test_reference_to_a_non_strategy_is_a_config_error(ref: str) -> None:
    with pytest.raises(ConfigError, match="has no Strategy subclass"):
        load_strategy(ref)


@pytest.mark.parametrize("ref", [":SmaCross", ".sma_cross:SmaCross"])
def test_malformed_reference_is_a_config_error(ref: str) -> None:
    with pytest.raises(ConfigError, match="strategy"):
        load_strategy(ref)


def test_order_target_cancels_the_opposite_side_when_the_target_flips() -> None:
    # Volume caps the buy at 0.25 a bar, so it is still working when the target flips to flat:
    # the rest of the buy is canceled and only the filled part is sold.
    from engine.backtesting import BacktestEngine, Feed
    from engine.messages import OrderCanceled
    from tests.kit.scripted import MINUTE, bar_table

    class Flip(Strategy):
        name = "flip"

        def on_start(self) -> None:
            self.n = 0

        def on_bar(self, bar) -> None:
            if self.n == 0:
                self.ctx.order_target(1.0)
            elif self.n == 2:
                self.ctx.order_target(0.0)
            self.n += 1

    engine = BacktestEngine(capital=10_000.0)
    engine.add_feed(Feed("X", "bar", bar_table([(100, 101, 99, 100, 1.0)] * 6),
                         interval_ns=MINUTE))
    engine.add_strategy(Flip(), "X")
    engine.run()
    buys = [f.last_qty for f in engine.fills if f.side == "BUY"]
    sells = [f.last_qty for f in engine.fills if f.side == "SELL"]
    assert buys == [0.25, 0.25]                 # bars 1 and 2, capped at 25% of volume 1.0
    canceled = [e for e in engine.order_events if type(e) is OrderCanceled]
    assert [e.client_order_id for e in canceled] == ["flip:X-1"]
    assert sum(sells) == pytest.approx(0.5) and engine.contexts[0].position == pytest.approx(0)


def test_a_nan_print_fills_nothing_and_orders_keep_working() -> None:
    import numpy as np
    import pandas as pd

    from engine.backtesting import BacktestEngine, Feed

    class BuyOnce(Strategy):
        name = "buy_once"

        def on_start(self) -> None:
            self.done = False

        def on_trade(self, trade) -> None:
            if not self.done:
                self.done = True
                self.ctx.buy(1.0)

    prices = [100.0, np.nan, np.inf, 101.0]
    frame = pd.DataFrame({"ts": np.arange(4, dtype=np.int64) * 1_000_000_000,
                          "price": prices, "size": [10.0] * 4,
                          "side": np.ones(4, np.int8), "trade_id": np.arange(4)})
    engine = BacktestEngine(capital=10_000.0)
    engine.add_feed(Feed("X", "trade", frame))
    engine.add_strategy(BuyOnce(), "X")
    engine.run()
    (fill,) = engine.fills
    assert fill.ts_event == 3_000_000_000 and fill.last_price == pytest.approx(101.0, rel=1e-3)
    assert np.isfinite(engine.portfolio.cash)


# --- the price hook ---------------------------------------------------------------------------


class PriceLog(Strategy):
    """Records the event and price hooks in the order they run."""

    name = "price_log"

    def on_start(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def on_bar(self, bar: Bar) -> None:
        self.calls.append(("bar", bar.close))

    def on_trade(self, trade: Trade) -> None:
        self.calls.append(("trade", trade.price))

    def on_quote(self, quote: Quote) -> None:
        self.calls.append(("quote", quote.bid))

    def on_price(self, price: float) -> None:
        self.calls.append(("price", price))


class PriceOnly(Strategy):
    name = "price_only"

    def on_start(self) -> None:
        self.prices: list[float] = []

    def on_price(self, price: float) -> None:
        if price > 103.0:
            raise RuntimeError("too high")
        self.prices.append(price)


NAN = float("nan")


def _engine(kind: str, frame: pd.DataFrame, *strategies: Strategy,
            second: pd.DataFrame | None = None) -> BacktestEngine:
    engine = BacktestEngine(capital=10_000.0, venue_config=VenueConfig())
    engine.add_feed(Feed("BTC/USDT", kind, frame, MINUTE if kind == "bar" else 0))
    if second is not None:
        engine.add_feed(Feed("ETH/USDT", kind, second, MINUTE if kind == "bar" else 0))
    for strategy in strategies:
        engine.add_strategy(strategy, "BTC/USDT")
    return engine


@pytest.mark.parametrize("two_feeds", [False, True], ids=["one-feed", "merged"])
def test_on_price_follows_the_event_hook_with_the_close_and_skips_bad_prices(
        two_feeds: bool) -> None:
    bars = bar_table([(100, 101, 99, 100.5, 1), (100, 101, 99, NAN, 1), (100, 101, 99, 101, 1),
                      (100, 101, 99, float("inf"), 1)])
    log = PriceLog()
    engine = _engine("bar", bars, log, second=bars if two_feeds else None)
    engine.run()
    assert log.calls[:2] == [("bar", 100.5), ("price", 100.5)]
    assert log.calls[2][0] == "bar" and math.isnan(log.calls[2][1])   # no price hook on NaN
    assert log.calls[3:] == [("bar", 101.0), ("price", 101.0), ("bar", float("inf"))]


def test_on_price_gets_trade_prices_and_quote_mids() -> None:
    log = PriceLog()
    engine = _engine("trade", trade_table([(0, 100.0, 1), (1, NAN, 1), (2, 101.0, 2)]), log)
    engine.run()
    assert log.calls[0:2] == [("trade", 100.0), ("price", 100.0)]
    assert log.calls[3:] == [("trade", 101.0), ("price", 101.0)]
    log = PriceLog()
    engine = _engine("quote", quote_table([(0, 100.0, 101.0, 1, 1), (1, 102.0, 102.5, 1, 1)]),
                     log)
    engine.run()
    assert log.calls == [("quote", 100.0), ("price", 100.5), ("quote", 102.0),
                         ("price", 102.25)]


@pytest.mark.parametrize("mode", ["run", "run_batch"])
def test_a_raising_price_hook_faults_its_strategy_under_that_hook_name(mode: str) -> None:
    bars = bar_table([(100, 101, 99, c, 1) for c in (101.0, 102.0, 104.0, 99.0)])
    strategy = PriceOnly()
    engine = _engine("bar", bars, strategy)
    getattr(engine, mode)()
    assert strategy.prices == [101.0, 102.0]
    assert [(f.hook, f.error) for f in engine.faults] == [("on_price",
                                                           "RuntimeError: too high")]


def test_the_batch_pass_runs_price_hooks_like_the_hook_loop() -> None:
    bars = bar_table([(100, 101, 99, c, 1) for c in (100.0, NAN, 101.0, 102.5)])
    logs = []
    for mode in ("run", "run_batch"):
        log = PriceLog()
        getattr(_engine("bar", bars, log), mode)()
        logs.append([(k, "nan" if v != v else v) for k, v in log.calls])
    assert logs[0] == logs[1]
