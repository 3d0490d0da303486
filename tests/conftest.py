"""Settings every test process (and the subprocesses it starts) shares."""

import os

# `raytrader backtest --workers N` starts Ray's dashboard by default; the suite's runs do
# not need it (a test that does turns it on itself)
os.environ.setdefault("RAYTRADER_RAY_DASHBOARD", "0")
