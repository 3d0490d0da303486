"""Live and paper trading through ccxt (issue 12): the pieces that talk to a real venue."""
