"""Whole-run accounting identities: the books must balance to rounding on every golden run."""

from __future__ import annotations

import pytest

from tests.acceptance.golden_cases import CASES, REAL, REAL_DATA_CASES, run_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_equity_change_equals_attributed_pnl(name: str) -> None:
    if name in REAL_DATA_CASES and not REAL.exists():
        pytest.skip(f"real data not found at {REAL} (../shared/data/real is absent)")
    result = run_case(name)
    capital = result.config.capital
    change = result.equity["equity"].iloc[-1] - capital
    attribution = result.attribution
    # realized + unrealized - fees, summed over (symbol, strategy), is the equity change
    assert change == pytest.approx(attribution["net_pnl"].sum(), rel=1e-9, abs=1e-6)
    # closed round trips carry their own fees; open positions carry the rest
    assert result.trades["fees"].sum() <= result.metrics["total_fees"] + 1e-9
    assert result.metrics["total_fees"] == pytest.approx(attribution["fees"].sum(), rel=1e-12)
    # the equity curve's cash is the capital minus what the fills cost
    fills = result.fills
    signed = fills["qty"].where(fills["side"] == "BUY", -fills["qty"])
    cash = capital - (signed * fills["price"]).sum() - fills["fee"].sum()
    assert result.equity["cash"].iloc[-1] == pytest.approx(cash, rel=1e-9)


@pytest.mark.parametrize("name", ["momentum_two_symbols_15m_short_sqrt_latency"])
def test_pairs_split_capital_so_gross_exposure_stays_within_allocation(name: str) -> None:
    result = run_case(name)
    gross = result.equity["gross_exposure"] / result.equity["equity"]
    # two pairs at allocation 0.95, each sized on half the equity: about 0.95 gross at most,
    # plus what prices moved since the entries
    assert gross.max() < 1.2
    assert gross.max() > 0.5
