"""The backtest config: strict about unknown keys (naming key, source and the valid keys), JSON
errors naming file and line, a stable hash that changes with any field, validated venue cost
settings, the venue and risk sections nested under flat keys, and the ``fee_bps`` alias."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from engine.config import BacktestConfig, canonical_json
from engine.errors import ConfigError
from engine.risk import RiskLimits
from engine.venue import VenueConfig

VALID_KEYS = BacktestConfig.keys()

# A valid value different from the default, for every field.
CHANGED: dict[str, Any] = {
    "strategy": "momentum",
    "params": {"fast": 5},
    "data": "data/btc.parquet",
    "symbols": ("ETH/USDT",),
    "start": "2021-01-01",
    "end": "2021-06-30",
    "timeframe": "1h",
    "capital": 50_000.0,
    "seed": 7,
    "venue": "kraken",
    "catalog": "other-catalog",
    "skip_bad": True,
    "maker_fee_bps": -1.0,
    "taker_fee_bps": 7.5,
    "slippage_model": "sqrt",
    "slippage_bps": 2.0,
    "impact_base_bps": 1.0,
    "impact_k_bps": 20.0,
    "latency_ms": 50.0,
    "max_volume_share": 0.5,
    "limit_fill": "touch",
    "periods_per_year": 252.0,
    "risk_free_rate": 0.02,
    "strategies": ({"strategy": "momentum", "params": {"lookback": 5}},),
    "max_open_positions": 3,
    "max_gross_exposure": 1.5,
    "account": "margin",
    "on_insufficient": "deny",
    "price_buffer_bps": 20.0,
    "max_leverage": 2.0,
    "symbol_leverage": {"BTC/USDT": 1.5},
    "maintenance_margin": 0.1,
    "max_net_exposure": 0.5,
    "max_position_qty": 3.0,
    "max_position_notional": 20_000.0,
    "max_position_share": 0.2,
    "max_order_notional": 5_000.0,
    "max_drawdown": 0.15,
    "drawdown_action": "reduce",
    "max_daily_loss": 0.05,
    "daily_loss_action": "reduce",
    "max_consecutive_losses": 4,
    "loss_pause": "2h",
    "cooldown": "1h",
    "cooldown_max": "2d",
    "correlation_threshold": 0.8,
    "max_group_exposure": 0.5,
    "block_regime": "VOLATILE",
    "volatile_scale": 0.5,
    "max_cost_bps": 30.0,
    "max_orders_per_minute": 10,
    "kill_at": "2021-03-01T00:00",
    "stop_loss": 0.02,
    "risk_preset": "medium",
    "market_stats": {"correlation_interval": "15m"},
    "strategy_risk": {"sma_cross": {"stop_loss": 0.01}},
    "sizing": "kelly:kelly_scale=0.25",
    "equity_interval": "event",
    "synthetic_params": {"vol_of_vol_slow": 0.3},
    "fee_bps": 7.0,
    "execution": VenueConfig(venue="kraken", taker_fee_bps=7.5),
    "risk": RiskLimits(max_gross_exposure=1.5),
}


def write(tmp_path: Path, text: str, name: str = "run.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- unknown keys and sources -----------------------------------------------------------------


def test_unknown_key_names_key_source_and_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        BacktestConfig.from_dict({"capital": 1000.0, "slipage_bps": 2.0}, source="grid.json")
    text = str(info.value)
    assert "'slipage_bps'" in text and "grid.json" in text
    assert "valid keys: " + ", ".join(VALID_KEYS) in text


def test_unknown_keys_are_all_named() -> None:
    with pytest.raises(ConfigError, match="'alpha', 'beta'"):
        BacktestConfig.from_dict({"beta": 1, "alpha": 2})


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"strategy": "sma_cross", "capitol": 5}))
    with pytest.raises(ConfigError) as info:
        BacktestConfig.from_file(path)
    assert "'capitol'" in str(info.value) and str(path) in str(info.value)
    assert "capital" in str(info.value)


def test_from_file_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .* is a folder"):
        BacktestConfig.from_file(tmp_path)


def test_from_file_reads_a_valid_config(tmp_path: Path) -> None:
    values = {"strategy": "momentum", "params": {"lookback": 5}, "symbols": ["ETH/USDT"],
              "capital": 5000.0, "seed": 3}
    config = BacktestConfig.from_file(write(tmp_path, json.dumps(values)))
    assert config == BacktestConfig.from_dict(values)
    assert config.symbols == ("ETH/USDT",) and config.params == {"lookback": 5}


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "capital": 1000.0,\n  "seed": ,\n  "venue": "x"\n}\n')
    with pytest.raises(ConfigError, match="invalid JSON") as info:
        BacktestConfig.from_file(path)
    assert str(info.value).startswith(f"{path}:3:")


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="does not exist") as info:
        BacktestConfig.from_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["[1, 2]", '"sma_cross"', "3"])
def test_file_must_hold_an_object(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="JSON object") as info:
        BacktestConfig.from_file(path)
    assert str(path) in str(info.value)


# --- frozen and hashable ----------------------------------------------------------------------


def test_config_is_frozen() -> None:
    config = BacktestConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.capital = 1.0  # type: ignore[misc]


def test_params_are_copied_in() -> None:
    params = {"fast": 5}
    config = BacktestConfig(params=params)
    params["fast"] = 6
    assert config.params == {"fast": 5}


def test_every_field_has_a_changed_value() -> None:
    assert sorted(CHANGED) == sorted(VALID_KEYS), "add new config fields to CHANGED"


def test_config_hash_is_stable_across_instances() -> None:
    a = BacktestConfig(strategy="momentum", params={"lookback": 5, "threshold": 0.02},
                       symbols=["BTC/USDT", "ETH/USDT"])
    b = BacktestConfig.from_dict({"symbols": ("BTC/USDT", "ETH/USDT"), "strategy": "momentum",
                                  "params": {"threshold": 0.02, "lookback": 5}})
    assert a == b
    assert a.config_hash() == b.config_hash()
    assert len(a.config_hash()) == 64 and int(a.config_hash(), 16) >= 0
    assert BacktestConfig().config_hash() == BacktestConfig().config_hash()
    # through a file and back
    assert BacktestConfig.from_dict(a.to_dict()).config_hash() == a.config_hash()


def test_config_hash_is_the_sha256_of_the_canonical_json() -> None:
    config = BacktestConfig()
    assert config.config_hash() == hashlib.sha256(
        canonical_json(config.to_dict()).encode()).hexdigest()
    assert canonical_json({"b": 1, "a": [1.5, None]}) == '{"a":[1.5,null],"b":1}'


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_config_hash_changes_with_every_field(field: str) -> None:
    base = BacktestConfig()
    changed = base.replace(**{field: CHANGED[field]})
    assert changed != base
    assert changed.config_hash() != base.config_hash()


def test_config_hash_changes_with_a_parameter_value() -> None:
    assert (BacktestConfig(params={"fast": 5}).config_hash()
            != BacktestConfig(params={"fast": 6}).config_hash())


def test_equal_configs_have_equal_hashes() -> None:
    from_file_style = BacktestConfig.from_dict({"capital": 100000, "slippage_bps": 1})
    assert from_file_style == BacktestConfig()
    assert from_file_style.config_hash() == BacktestConfig().config_hash()


# --- value checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("changes,match", [
    ({"slippage_bps": -1.0}, "slippage_bps must be >= 0"),
    ({"taker_fee_bps": -0.5}, "taker_fee_bps must be >= 0"),
    ({"impact_k_bps": -1.0}, "impact_k_bps must be >= 0"),
    ({"latency_ms": -1.0}, "latency_ms must be >= 0"),
    ({"taker_fee_bps": math.nan}, "taker_fee_bps must be a finite number"),
    ({"slippage_bps": math.inf}, "slippage_bps must be a finite number"),
    ({"maker_fee_bps": "2"}, "maker_fee_bps must be a finite number"),
    ({"max_volume_share": 0.0}, r"max_volume_share must be in \(0, 1\]"),
    ({"max_volume_share": 1.5}, r"max_volume_share must be in \(0, 1\]"),
    ({"max_volume_share": -0.1}, r"max_volume_share must be in \(0, 1\]"),
    ({"max_volume_share": math.nan}, r"max_volume_share must be in \(0, 1\]"),
    ({"slippage_model": "linear"}, "slippage_model must be 'fixed' or 'sqrt'"),
    ({"limit_fill": "cross"}, "limit_fill must be 'through' or 'touch'"),
], ids=repr)
def test_invalid_venue_settings(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BacktestConfig().replace(**changes)
    with pytest.raises(ConfigError, match=match) as info:
        BacktestConfig.from_dict(changes, source="run.json")
    assert str(info.value).startswith("run.json: ")
    with pytest.raises(ConfigError, match=match):
        VenueConfig(**changes)


def test_valid_venue_edges() -> None:
    assert VenueConfig(max_volume_share=1.0).max_volume_share == 1.0
    assert VenueConfig(maker_fee_bps=-2.5).maker_fee_bps == -2.5   # a maker rebate
    assert VenueConfig(slippage_bps=0.0, latency_ms=0.0).latency_ns == 0
    config = BacktestConfig.from_dict({k: CHANGED[k] for k in (
        "maker_fee_bps", "taker_fee_bps", "slippage_model", "latency_ms", "max_volume_share",
        "limit_fill")})
    venue = config.execution
    assert (venue.slippage_model, venue.limit_fill, venue.latency_ns) == ("sqrt", "touch",
                                                                          50_000_000)


@pytest.mark.parametrize("changes,match", [
    ({"capital": 0.0}, "capital"), ({"capital": -5.0}, "capital"),
    ({"capital": math.inf}, "capital"), ({"capital": "100"}, "capital"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": True}, "seed"),
    ({"periods_per_year": 0.0}, "periods_per_year"),
    ({"symbols": ()}, "symbols"), ({"symbols": ["BTC", ""]}, "symbols"),
    ({"symbols": ["BTC", "BTC"]}, "twice"),
], ids=repr)
def test_invalid_run_settings(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BacktestConfig.from_dict(changes)


def test_a_single_symbol_string_becomes_a_tuple() -> None:
    assert BacktestConfig(symbols="BTC/USDT").symbols == ("BTC/USDT",)


def test_bool_capital_is_refused() -> None:
    with pytest.raises(ConfigError, match="capital"):
        BacktestConfig(capital=True)


@pytest.mark.parametrize("values,match", [
    ({"max_open_positions": 0}, "max_open_positions must be a positive integer"),
    ({"max_open_positions": 1.5}, "max_open_positions must be a positive integer"),
    ({"max_gross_exposure": -1}, "max_gross_exposure must be a positive number"),
    ({"max_gross_exposure": "2"}, "max_gross_exposure must be a positive number"),
    ({"strategies": []}, "strategies must be a non-empty list"),
    ({"equity_interval": "soon"}, "equity_interval must be 'event' or a timeframe"),
    ({"strategies": [{"params": {}}]}, r"strategies\[0\] must be an object"),
    ({"strategies": [{"strategy": "sma_cross", "extra": 1}]}, r"strategies\[0\]"),
    ({"strategies": [{"strategy": 5}]}, r"strategies\[0\]\.strategy"),
    ({"strategies": [{"strategy": "momentum", "params": [1]}]}, r"strategies\[0\]\.params"),
])
def test_bad_portfolio_settings_are_named(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BacktestConfig.from_dict(values)


def test_unset_new_settings_keep_the_old_hash() -> None:
    # configs written before strategies / risk limits existed keep their hash
    assert "max_open_positions" not in BacktestConfig().to_dict()
    assert (BacktestConfig.from_dict({"max_open_positions": 2}).config_hash()
            != BacktestConfig().config_hash())


# --- the venue and risk sections, under flat keys -----------------------------------------------

# Hashes of configs as written since the account was recorded (the golden results pin more):
# nesting or reordering the sections must never move them.
PINNED = {
    "026afbf464c19f9b0d09f83ead12b3182fce19ecaaaf8ee32a86c4a657227d68": {},
    "88d00371a99a2d3c9e8e547043109a8ac88b7224566ac3e6274b14a729031fb2": {
        "strategy": "momentum", "params": {"lookback": 5}, "symbols": ["ETH/USDT", "BTC/USDT"],
        "capital": 50000, "venue": "kraken", "maker_fee_bps": -1, "taker_fee_bps": 7.5,
        "slippage_model": "sqrt", "latency_ms": 50, "max_volume_share": 0.5,
        "limit_fill": "touch", "max_open_positions": 3, "max_gross_exposure": 2,
        "equity_interval": "event"},
}


@pytest.mark.parametrize("digest", sorted(PINNED))
def test_config_hashes_are_unchanged_by_the_nesting(digest: str) -> None:
    config = BacktestConfig.from_dict(PINNED[digest])
    assert config.config_hash() == digest
    assert BacktestConfig.from_dict(config.to_dict()) == config


def test_flat_keys_land_in_the_sections() -> None:
    config = BacktestConfig.from_dict({"venue": "kraken", "taker_fee_bps": 7, "latency_ms": 5,
                                       "max_open_positions": 2, "capital": 5000})
    assert config.execution == VenueConfig(venue="kraken", taker_fee_bps=7.0, latency_ms=5.0)
    assert config.risk == RiskLimits(max_open_positions=2)
    assert config.venue == "kraken" and config.capital == 5000.0
    assert type(config.execution.taker_fee_bps) is float   # 7 and 7.0 hash the same
    assert BacktestConfig().execution == VenueConfig(venue="binance")
    assert BacktestConfig().risk == RiskLimits()


def test_to_dict_writes_the_sections_flat() -> None:
    config = BacktestConfig.from_dict({"taker_fee_bps": 7.5, "max_gross_exposure": 1.5})
    out = config.to_dict()
    assert "execution" not in out and "risk" not in out
    assert out["taker_fee_bps"] == 7.5 and out["max_gross_exposure"] == 1.5
    assert out["venue"] == "binance" and out["slippage_model"] == "fixed"
    unset = {f.name for f in dataclasses.fields(RiskLimits)
             if getattr(config.risk, f.name) is None}
    assert set(out) == set(VALID_KEYS) - {"fee_bps", "execution", "risk", "strategies", "sizing",
                                          "equity_interval", "synthetic_params"} - unset


def test_a_section_given_whole_equals_its_flat_keys() -> None:
    flat = BacktestConfig.from_dict({"venue": "kraken", "taker_fee_bps": 7.5,
                                     "max_open_positions": 3})
    nested = BacktestConfig(execution=VenueConfig(venue="kraken", taker_fee_bps=7.5),
                            risk=RiskLimits(max_open_positions=3))
    assert nested == flat and nested.config_hash() == flat.config_hash()
    assert BacktestConfig.from_dict({"execution": nested.execution}) == flat.replace(
        max_open_positions=None)
    # flat keys beside a whole section change that section
    both = BacktestConfig().replace(execution=VenueConfig(venue="kraken"), taker_fee_bps=7.5,
                                    risk=RiskLimits(max_open_positions=3))
    assert both == flat


def test_replace_changes_one_setting_of_a_section() -> None:
    base = BacktestConfig.from_dict({"venue": "kraken", "taker_fee_bps": 7.5})
    changed = base.replace(slippage_bps=3)
    assert changed.execution == VenueConfig(venue="kraken", taker_fee_bps=7.5, slippage_bps=3.0)
    assert base.execution.slippage_bps == 1.0   # the original is untouched


def test_sections_are_frozen() -> None:
    config = BacktestConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.execution.taker_fee_bps = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.risk.max_open_positions = 1  # type: ignore[misc]


@pytest.mark.parametrize("values,match", [
    ({"execution": {"taker_fee_bps": 1.0}}, "execution must be a VenueConfig"),
    ({"execution": {"taker_fee_bps": 1.0}, "slippage_bps": 2.0},
     "execution must be a VenueConfig"),
    ({"risk": 3}, "risk must be a RiskLimits"),
    ({"replace": 1}, "unknown config key 'replace'"),
], ids=repr)
def test_a_section_must_be_its_config(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        BacktestConfig.from_dict(values, source="run.json")
    assert "run.json" in str(info.value)
    with pytest.raises(ConfigError, match=match):
        BacktestConfig().replace(**values)


def test_unknown_keys_in_replace_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'slipage_bps'"):
        BacktestConfig().replace(slipage_bps=2.0)


# --- the fee_bps alias ------------------------------------------------------------------------


def test_fee_bps_sets_both_rates() -> None:
    config = BacktestConfig.from_dict({"fee_bps": 7})
    assert (config.execution.maker_fee_bps, config.execution.taker_fee_bps) == (7.0, 7.0)
    # the alias is resolved, not recorded: the same run hashes the same however written
    assert "fee_bps" not in config.to_dict()
    assert config == BacktestConfig.from_dict({"maker_fee_bps": 7.0, "taker_fee_bps": 7.0})
    assert config.config_hash() == BacktestConfig.from_dict(
        {"maker_fee_bps": 7.0, "taker_fee_bps": 7.0}).config_hash()


def test_a_rate_given_beside_fee_bps_wins() -> None:
    config = BacktestConfig.from_dict({"fee_bps": 7.0, "maker_fee_bps": -1.0})
    assert (config.execution.maker_fee_bps, config.execution.taker_fee_bps) == (-1.0, 7.0)


def test_fee_bps_in_replace_overrides_the_rates_it_changes() -> None:
    base = BacktestConfig.from_dict({"maker_fee_bps": 1.0, "taker_fee_bps": 4.0})
    assert base.replace(fee_bps=10).execution.taker_fee_bps == 10.0
    assert base.replace(fee_bps=10).execution.maker_fee_bps == 10.0
    mixed = base.replace(fee_bps=10, taker_fee_bps=3)
    assert (mixed.execution.maker_fee_bps, mixed.execution.taker_fee_bps) == (10.0, 3.0)


@pytest.mark.parametrize("fee,match", [
    (-1.0, "taker_fee_bps must be >= 0"),
    ("7", "maker_fee_bps must be a finite number"),
    (math.nan, "maker_fee_bps must be a finite number"),
    (True, "maker_fee_bps must be a finite number"),
], ids=repr)
def test_a_bad_fee_bps_is_named_by_the_rate_it_sets(fee: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BacktestConfig.from_dict({"fee_bps": fee})


def test_fee_bps_on_the_command_line() -> None:
    """--fee-bps sets both rates over a config file's; a rate's own flag wins over it."""
    from engine.cli import build_parser
    from engine.cli.backtest import config_from_args

    def config(*argv: str) -> VenueConfig:
        return config_from_args(build_parser().parse_args(["backtest", *argv])).execution

    assert (config("--fee-bps", "7").maker_fee_bps, config("--fee-bps", "7").taker_fee_bps) == (
        7.0, 7.0)
    both = config("--fee-bps", "7", "--maker-fee-bps", "1")
    assert (both.maker_fee_bps, both.taker_fee_bps) == (1.0, 7.0)


def test_fee_bps_flag_overrides_a_config_file(tmp_path: Path) -> None:
    from engine.cli import build_parser
    from engine.cli.backtest import config_from_args

    path = write(tmp_path, json.dumps({"maker_fee_bps": 1.0, "taker_fee_bps": 4.0,
                                       "slippage_bps": 3.0}))
    args = build_parser().parse_args(["backtest", "--config", str(path), "--fee-bps", "9"])
    venue = config_from_args(args).execution
    assert (venue.maker_fee_bps, venue.taker_fee_bps, venue.slippage_bps) == (9.0, 9.0, 3.0)
