"""Which parameter sets a research job backtests: a grid, a random sample of the grid, or a
model-based (Bayesian, Optuna's TPE) search, for every (symbol, strategy) pair of the job.

Every search is deterministic: the same inputs and seed give the same runs in the same order,
whatever evaluator runs them and however many workers it has. Random samples are drawn per
pair from a generator seeded by the job's seed and the pair's names; the Bayesian search asks
its sampler for :data:`BAYES_BATCH` trials at a time, has them all backtested, then tells it
the results in trial order, so the number of workers never changes what it learns.

Combinations a strategy's own rules refuse (``Params.check``, e.g. ``fast`` not below
``slow``) are not backtested; the job counts them as skipped.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.research.evaluate import Evaluator, Outcome, Run
from engine.research.params import ParamRange, check_grid, combinations, resolve_range
from engine.research.ranking import check_rank_by, is_ascending, rank_value
from engine.strategy import Strategy, load_strategy

SEARCHES = ("grid", "random", "bayes")
BAYES_BATCH = 8   # trials asked of the sampler before it hears back (fixed: workers vary)


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """What a search explores: the job's base config (data, dates, costs, risk; each strategy
    with its fixed parameters), the parameter ranges, the search kind, its trials per
    (symbol, strategy) pair (random and bayes), its seed, and the metric that ranks runs."""

    config: BacktestConfig
    ranges: tuple[ParamRange, ...]
    search: str = "grid"
    trials: int | None = None
    seed: int = 0
    rank_by: str = "sharpe"

    def strategies(self) -> list[tuple[str, dict[str, Any]]]:
        """(reference, fixed parameters) of each strategy, in the job's order."""
        return [(e["strategy"], dict(e["params"])) for e in self.config.strategy_entries()]

    def ranges_of(self, strategy: str) -> list[ParamRange]:
        """The ranges searched for ``strategy``."""
        return [r for r in self.ranges if r.strategy == strategy]

    @property
    def ascending(self) -> bool:
        """Whether smaller values of :attr:`rank_by` rank first."""
        return is_ascending(self.rank_by)


def build_spec(config: BacktestConfig, ranges: Sequence[str], *, search: str = "grid",
               trials: int | None = None, seed: int = 0,
               rank_by: str = "sharpe") -> SearchSpec:
    """A :class:`SearchSpec` from ``--range`` texts and the search options, every one checked
    before anything runs: ranges inside each parameter's declared bounds, known parameters,
    no parameter both fixed and searched, a grid that is not empty, a known metric."""
    if search not in SEARCHES:
        raise ConfigError(f"--search {search!r}: expected one of {', '.join(SEARCHES)}")
    if search == "grid" and trials is not None:
        raise ConfigError("--trials applies to --search random and bayes; a grid runs every "
                          "combination")
    if search != "grid" and (trials is None or trials < 1):
        raise ConfigError(f"--search {search} needs --trials N (N >= 1), got {trials}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--search-seed must be a non-negative integer, got {seed!r}")
    check_rank_by(rank_by)
    entries = [(e["strategy"], dict(e["params"])) for e in config.strategy_entries()]
    refs = [ref for ref, _ in entries]
    if len(set(refs)) != len(refs):
        raise ConfigError(f"--strategy lists a strategy twice: {refs}")
    classes = {ref: load_strategy(ref) for ref in refs}
    resolved = [resolve_range(text, classes) for text in ranges]
    keys = [r.key for r in resolved]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"--range gives {', '.join(twice)} more than once")
    spec = SearchSpec(config, tuple(resolved), search, trials, seed, rank_by)
    for ref, fixed in entries:
        mine = spec.ranges_of(ref)
        both = sorted(set(fixed) & {r.name for r in mine})
        if both:
            raise ConfigError(f"--param and --range both set {ref}.{both[0]}: give it one or "
                              f"the other")
        check_grid(ref, mine)
        if not any(True for _ in valid_combinations(classes[ref], fixed, mine)):
            raise ConfigError(f"--range: the grid of {ref!r} is empty: no combination of "
                              f"{', '.join(r.key for r in mine) or 'its parameters'} passes "
                              f"the strategy's rules ({_first_refusal(classes[ref], fixed, mine)})")
    return spec


def valid_combinations(cls: type[Strategy], fixed: Mapping[str, Any],
                       ranges: Sequence[ParamRange]) -> Any:
    """The combinations of ``ranges`` (with the ``fixed`` parameters) that ``cls`` accepts, as
    full parameter mappings of the searched and the fixed values."""
    for combo in combinations(ranges):
        params = {**fixed, **combo}
        try:
            cls.Params.create(params)
        except ConfigError:
            continue
        yield params


def _first_refusal(cls: type[Strategy], fixed: Mapping[str, Any],
                   ranges: Sequence[ParamRange]) -> str:
    for combo in combinations(ranges):
        try:
            cls.Params.create({**fixed, **combo})
        except ConfigError as exc:
            return str(exc)
    return "no combination"


@dataclasses.dataclass
class SearchResult:
    """The runs a search made, each with its outcome, in run order, and how many
    combinations it skipped because the strategy's rules refuse them."""

    runs: list[Run]
    outcomes: list[Outcome]
    skipped: int = 0


class _Counter:
    """Runs done so far, for a ``progress(done, total)`` callback."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.n, self.total, self.progress = 0, total, progress

    def __call__(self, k: int) -> None:
        self.n += k
        if self.progress is not None:
            self.progress(self.n, self.total)


def run_search(spec: SearchSpec, symbols: Sequence[str], evaluate: Evaluator, *,
               start: str | None = None, end: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Run ``spec``'s search on every (symbol, strategy) pair through ``evaluate``, over
    [``start``, ``end``) when given (else the job's dates)."""
    pairs = [(symbol, ref, fixed) for symbol in symbols for ref, fixed in spec.strategies()]
    if spec.search == "bayes":
        return _bayes(spec, pairs, evaluate, start, end, progress)
    runs: list[Run] = []
    skipped = 0
    for symbol, ref, fixed in pairs:
        mine = spec.ranges_of(ref)
        valid = list(valid_combinations(load_strategy(ref), fixed, mine))
        skipped += math.prod(len(r.values()) for r in mine) - len(valid)
        if spec.search == "random" and spec.trials is not None and spec.trials < len(valid):
            rng = np.random.default_rng(_pair_seed(spec.seed, symbol, ref))
            picked = np.sort(rng.choice(len(valid), size=spec.trials, replace=False))
            valid = [valid[i] for i in picked]
        runs.extend(Run(len(runs) + k, symbol, ref, params, start, end)
                    for k, params in enumerate(valid))
    outcomes = evaluate(runs, _Counter(len(runs), progress))
    return SearchResult(runs, outcomes, skipped)


def _pair_seed(seed: int, symbol: str, strategy: str) -> list[int]:
    """A generator seed of the job's seed and the pair's names (not their positions, so a
    pair's sample stays the same when symbols are added)."""
    return [seed, zlib.crc32(f"{symbol}\0{strategy}".encode())]


@dataclasses.dataclass
class _Study:
    """One pair's Optuna study, and the run of each combination it has tried."""

    symbol: str
    strategy: str
    fixed: dict[str, Any]
    cls: type[Strategy]
    ranges: list[ParamRange]
    study: Any
    seen: dict[tuple[Any, ...], int] = dataclasses.field(default_factory=dict)
    asked: int = 0


def _bayes(spec: SearchSpec, pairs: Sequence[tuple[str, str, dict[str, Any]]],
           evaluate: Evaluator, start: str | None, end: str | None,
           progress: Callable[[int, int], None] | None) -> SearchResult:
    """Optuna's TPE per pair, asked :data:`BAYES_BATCH` trials at a time, all pairs at once.
    The sampler picks a position in each range's grid of values, so it tries exactly the
    values a grid would."""
    import optuna
    from optuna.distributions import IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    failed = optuna.trial.TrialState.FAIL
    trials = spec.trials or 0
    direction: Literal["minimize", "maximize"] = "minimize" if spec.ascending else "maximize"
    studies = []
    for symbol, ref, fixed in pairs:
        seed = int(np.random.SeedSequence(_pair_seed(spec.seed, symbol, ref)).generate_state(1)[0])
        study = optuna.create_study(direction=direction,
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        studies.append(_Study(symbol, ref, fixed, load_strategy(ref), spec.ranges_of(ref), study))
    runs: list[Run] = []
    outcomes: list[Outcome] = []
    skipped = 0
    counter = _Counter(trials * len(pairs), progress)
    while any(s.asked < trials for s in studies):
        asked: list[tuple[_Study, Any, tuple[Any, ...], bool]] = []
        new: list[Run] = []
        for s in studies:
            grids = {r.name: r.values() for r in s.ranges}
            dists = {name: IntDistribution(0, len(v) - 1) for name, v in grids.items()}
            for _ in range(min(BAYES_BATCH, trials - s.asked)):
                s.asked += 1
                trial = s.study.ask(dists)
                combo = {name: grids[name][k] for name, k in trial.params.items()}
                params = {**s.fixed, **combo}
                try:
                    s.cls.Params.create(params)
                except ConfigError:
                    s.study.tell(trial, state=failed)
                    skipped += 1
                    counter(1)
                    continue
                key = tuple(sorted(combo.items()))
                fresh = key not in s.seen
                if fresh:
                    s.seen[key] = len(runs) + len(new)
                    new.append(Run(s.seen[key], s.symbol, s.strategy, params, start, end))
                asked.append((s, trial, key, fresh))
        outcomes.extend(evaluate(new, counter))
        runs.extend(new)
        for s, trial, key, fresh in asked:
            if not fresh:
                counter(1)   # a combination this study already tried: the same result
            value = rank_value(outcomes[s.seen[key]], spec.rank_by)
            if value is None:
                s.study.tell(trial, state=failed)
            else:
                s.study.tell(trial, value)
    return SearchResult(runs, outcomes, skipped)


