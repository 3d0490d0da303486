"""The names of the documentation this project follows work as aliases of the built-ins that
implement them: in ``load_strategy``, ``--strategy``, config files and scoped ``--param``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import build_parser
from engine.cli.backtest import config_from_args
from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.run import complete_params
from engine.strategy import BUILTIN_STRATEGIES, STRATEGY_ALIASES, builtin_name, load_strategy

ALIASES = [("mean_reversion", "bollinger_reversion"), ("trend_following", "ema_trend"),
           ("sma_crossover", "sma_cross")]


def config(*argv: str) -> BacktestConfig:
    return config_from_args(build_parser().parse_args(["backtest", *argv]))


def test_the_aliases_are_the_documented_ones() -> None:
    assert dict(ALIASES) == STRATEGY_ALIASES
    assert not set(STRATEGY_ALIASES) & set(BUILTIN_STRATEGIES)


@pytest.mark.parametrize("alias, name", ALIASES)
def test_load_strategy_resolves_an_alias_to_its_builtin(alias: str, name: str) -> None:
    assert load_strategy(alias) is load_strategy(name)
    assert load_strategy(alias).name == name
    assert builtin_name(alias) == name and builtin_name(name) == name


def test_an_unknown_name_lists_the_aliases_too() -> None:
    with pytest.raises(ConfigError, match=r"an alias .*mean_reversion"):
        load_strategy("mean_revert")


@pytest.mark.parametrize("alias, name", ALIASES)
def test_strategy_flag_and_scoped_params_take_an_alias(alias: str, name: str) -> None:
    slow = {"sma_cross": "slow", "ema_trend": "slow", "bollinger_reversion": "period"}[name]
    # one strategy: the prefix may be the alias or the built-in name
    for prefix in (alias, name):
        cfg = complete_params(config("--strategy", alias, "--param", f"{prefix}.{slow}=50"))
        assert cfg.strategy == alias and cfg.params[slow] == 50
    # several strategies: a scope names one by alias or by built-in name
    cfg = config("--strategy", alias, "--strategy", "momentum",
                 "--param", f"{name}.{slow}=60", "--param", "momentum.lookback=7")
    assert cfg.strategies[0] == {"strategy": alias, "params": {slow: "60"}}
    assert cfg.strategies[1] == {"strategy": "momentum", "params": {"lookback": "7"}}


def test_a_config_file_may_name_an_alias(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"strategy": "trend_following", "params": {"fast": 5}}))
    cfg = complete_params(config("--config", str(path)))
    assert cfg.strategy == "trend_following" and cfg.params["fast"] == 5
    assert set(cfg.params) == set(load_strategy("ema_trend").Params.create({}).to_dict())
