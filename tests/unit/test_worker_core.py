"""The strategy worker core over real ZeroMQ sockets: for every market-data batch of its
symbols it pushes one IntentBatch per pair (the intents the batch path decides, the same as
over the whole stream at once) and acknowledges the batch; a raising batch path faults its pair
only; a corrupt or foreign frame, a strategy without batch path and a stop request give the
errors the core promises."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import zmq

from actors.coordinator.core import check_spec, load_streams, plan_graph
from actors.feed.core import FeedCore
from actors.stream import Stream
from actors.worker.core import WorkerCore
from engine import bus
from engine.codec import encode
from engine.config import BacktestConfig
from engine.errors import ConfigError, CorruptFrameError, InvalidMessageError
from engine.intents import IntentUpdate, batch_intents, from_message
from engine.messages import IntentBatch, MarketBatch, MarketSlice, Valuation
from engine.plan import PairPlan
from engine.strategy import load_strategy
from tests.kit.actor_cores import FakeFeed, finishes, threads

BTC, ETH = "BTC/USDT", "ETH/USDT"
TOPIC_BTC = "md.bar.SIM.BTC/USDT"
SMA = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}}
MOMENTUM = {"strategy": "momentum", "params": {"lookback": 30, "threshold": 0.002}}


def spec(strategies: list[dict[str, Any]], symbols: list[str]) -> BacktestConfig:
    return BacktestConfig.from_dict({"data": "synthetic", "timeframe": "1m", "symbols": symbols,
                                     "start": "2024-01-01", "end": "2024-01-01T08:20",
                                     "strategies": strategies})


def pairs_and_streams(strategies: list[dict[str, Any]], symbols: list[str]
                      ) -> tuple[list[PairPlan], dict[str, Stream]]:
    """Every pair on one worker, and the symbols' 500 one-minute bars each."""
    config = check_spec(spec(strategies, symbols), 1, 100)
    data = load_streams(config)
    (group,) = plan_graph(config, 1, data.symbols, 100).groups
    return list(group), data.streams


class IntentSink:
    """The execution core's side: a PULL socket collecting each pair's updates."""

    def __init__(self) -> None:
        self.sock, self.endpoint = bus.bind(zmq.PULL)

    def until_done(self, n_pairs: int) -> dict[str, list[IntentUpdate]]:
        updates: dict[str, list[IntentUpdate]] = defaultdict(list)
        done = 0
        while done < n_pairs:
            assert self.sock.poll(60_000, zmq.POLLIN), "the worker stopped sending"
            msg = bus.recv(self.sock, "the worker")
            assert type(msg) is IntentBatch
            update = from_message(msg)
            updates[update.strategy_id].append(update)
            done += update.done
        return dict(updates)

    def close(self) -> None:
        self.sock.close(0)


def run_with_feed(pairs: list[PairPlan], streams: dict[str, Stream], batch_rows: int = 100
                  ) -> tuple[dict[str, list[IntentUpdate]], int, int]:
    """Feed ``streams`` to a worker of ``pairs``: (updates by pair, events the worker
    processed, events the feed published and saw acknowledged)."""
    feed = FeedCore("SIM", batch_rows=batch_rows)
    feed.load(streams)
    sink = IntentSink()
    worker = WorkerCore(pairs, "SIM")
    try:
        worker.load(streams)
        worker.connect(feed.endpoints(), sink.endpoint, {s: st.kind for s, st in streams.items()})
        with threads() as start:
            published = start(feed.run, {topic: 1 for topic in worker.topics()})
            events = start(worker.run)
            updates = sink.until_done(len(pairs))
            return updates, finishes(events), finishes(published)
    finally:
        worker.close()
        sink.close()
        feed.close()


def whole_stream_intents(pair: PairPlan, stream: Stream) -> IntentUpdate:
    """The pair's batch path over its whole stream at once, in a fresh strategy."""
    strategy = load_strategy(pair.strategy_ref)(pair.params)
    strategy.on_start()
    return batch_intents(strategy, pair.strategy_id, stream.kind, pair.symbol,
                         stream.columns, stream.interval_ns, len(stream))


def test_each_batch_gives_one_update_per_pair_with_the_whole_stream_s_intents() -> None:
    pairs, streams = pairs_and_streams([SMA, MOMENTUM], [BTC, ETH])
    updates, events, published = run_with_feed(pairs, streams)
    assert events == published == 1000
    assert set(updates) == {p.strategy_id for p in pairs}
    for pair in pairs:
        mine = updates[pair.strategy_id]
        # a watermark per batch, then the end of the stream
        assert [u.upto_row for u in mine] == [99, 199, 299, 399, 499, 499]
        assert [u.done for u in mine] == [False] * 5 + [True]
        assert all(u.fault is None for u in mine)
        whole = whole_stream_intents(pair, streams[pair.symbol])
        got = [u.intents for u in mine]
        assert sum(len(i) for i in got) == len(whole.intents) > 0
        for field in ("row", "kind", "value", "price"):
            np.testing.assert_array_equal(
                np.concatenate([getattr(i, field) for i in got]),
                getattr(whole.intents, field))


def test_a_raising_batch_path_faults_its_pair_and_the_others_go_on() -> None:
    failing = {"strategy": "tests.kit.strategies:FailingBatch",
               "params": {"fast": 5, "slow": 20, "fail_row": 250, "fail_symbol": BTC}}
    pairs, streams = pairs_and_streams([failing, MOMENTUM], [BTC])
    updates, events, _ = run_with_feed(pairs, streams)
    assert events == 500
    faulty = updates["failing_batch:BTC/USDT"]
    # batches 0 and 1 as usual; batch 2 (rows 200-299) raises: the pair's last update
    assert [(u.upto_row, u.done) for u in faulty] == [(99, False), (199, False), (299, True)]
    assert faulty[-1].fault is not None
    row, error, tb = faulty[-1].fault
    assert row == 200 and error == "RuntimeError: deliberate failure on bar 250"
    assert "explode_deliberately" in tb
    other = updates["momentum:BTC/USDT"]
    assert [u.upto_row for u in other] == [99, 199, 299, 399, 499, 499]
    assert other[-1].done and all(u.fault is None for u in other)


def test_a_strategy_without_batch_path_is_refused() -> None:
    ref = "tests.kit.strategies:RaiseOnBar"
    pair = PairPlan("raise_on_bar:BTC/USDT", BTC, ref, load_strategy(ref).Params.create({}))
    with pytest.raises(ConfigError, match="has no batch path; it runs in the execution actor"):
        WorkerCore([pair], "SIM")


def worker_on_fake_feed() -> tuple[WorkerCore, FakeFeed, IntentSink]:
    pairs, streams = pairs_and_streams([SMA], [BTC])
    feed, sink = FakeFeed(), IntentSink()
    worker = WorkerCore(pairs, "SIM")
    worker.load(streams)
    worker.connect(feed.endpoints, sink.endpoint, {BTC: "bar"})
    feed.await_subscription(TOPIC_BTC)
    return worker, feed, sink


def close(*parts: Any) -> None:
    for part in parts:
        part.close()


def test_a_corrupt_frame_from_the_feed_names_the_feed_and_the_topic() -> None:
    worker, feed, sink = worker_on_fake_feed()
    try:
        feed.send(TOPIC_BTC, 0, b"\xc1 not msgpack")
        with pytest.raises(CorruptFrameError, match=r"from the feed \(md.bar.SIM.BTC/USDT\): "
                                                    r"frame of 13 bytes is not valid msgpack"):
            worker.run()
        assert feed.acked(deadline_s=0.2) is None       # nothing acknowledged
    finally:
        close(worker, feed, sink)


def test_a_frame_that_is_not_market_data_is_refused() -> None:
    worker, feed, sink = worker_on_fake_feed()
    try:
        feed.send(TOPIC_BTC, 0, encode(Valuation(1, 100.0, (BTC,), (1.0,), 1, 0.0, ())))
        with pytest.raises(InvalidMessageError, match=r"worker expected MarketSlice or "
                                                       r"MarketBatch frames on "
                                                       r"'md.bar.SIM.BTC/USDT', got Valuation"):
            worker.run()
    finally:
        close(worker, feed, sink)


@pytest.mark.parametrize("symbol,start,stop,error", [
    (ETH, 0, 10, r"the feed sent rows of 'ETH/USDT' on 'md.bar.SIM.BTC/USDT', whose stream "
                 r"this worker does not hold \(it holds \['BTC/USDT'\]\)"),
    (BTC, 0, 501, r"rows 0-501 of 'BTC/USDT' on 'md.bar.SIM.BTC/USDT'; the stream has 500 "
                  r"rows and the next batch starts at row 0"),
    (BTC, 10, 20, r"rows 10-20 of 'BTC/USDT' .* the next batch starts at row 0"),
])
def test_a_slice_of_rows_the_worker_cannot_take_is_refused(symbol: str, start: int, stop: int,
                                                          error: str) -> None:
    # rows of a stream the worker does not hold, past its end, or not where the last batch
    # ended (a batch lost or reordered): refused, naming the rows and the topic
    worker, feed, sink = worker_on_fake_feed()
    try:
        feed.send(TOPIC_BTC, 0, encode(MarketSlice("bar", "SIM", symbol, start, stop,
                                                   60 * 10**9)))
        with pytest.raises(InvalidMessageError, match=error):
            worker.run()
        assert feed.acked(deadline_s=0.2) is None       # nothing acknowledged
    finally:
        close(worker, feed, sink)


def test_a_longer_topic_sharing_the_prefix_is_not_taken_for_ours() -> None:
    worker, feed, sink = worker_on_fake_feed()
    columns = {"ts": np.array([0], dtype=np.int64), "open": np.ones(1), "high": np.ones(1),
               "low": np.ones(1), "close": np.ones(1), "volume": np.ones(1)}
    empty = {k: v[:0] for k, v in columns.items()}
    try:
        with threads() as start:
            run = start(worker.run)
            # BTC/USDTX's SUB prefix is BTC/USDT's: the worker must skip it, unacknowledged
            feed.send(TOPIC_BTC + "X", 0, encode(MarketBatch("bar", "SIM", BTC + "X", columns,
                                                             interval_ns=60 * 10**9)))
            feed.send(TOPIC_BTC, 1, encode(MarketBatch("bar", "SIM", BTC, empty,
                                                       interval_ns=60 * 10**9)))
            assert finishes(run) == 0
        assert feed.acked() == 1
        (update,) = sink.until_done(1)["sma_cross:BTC/USDT"]
        assert update.done and len(update.intents) == 0
    finally:
        close(worker, feed, sink)


def test_a_stop_request_ends_the_run() -> None:
    worker, feed, sink = worker_on_fake_feed()
    try:
        with threads() as start:
            run = start(worker.run)
            worker.stop()
            with pytest.raises(InterruptedError, match="worker stopped"):
                finishes(run)
    finally:
        close(worker, feed, sink)
