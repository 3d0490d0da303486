"""The feed core over real ZeroMQ sockets: every stream cut into the same batches, published
in event-time order of each batch's first event with an empty batch ending each stream;
publishing waits for every expected subscriber and keeps at most ``window`` batches ahead of
the slowest acknowledgement; a subscriber that never comes, or a stop request, ends the run
with the error the core promises."""

from __future__ import annotations

import numpy as np
import pytest

from actors.feed.core import FeedCore
from engine.errors import ConfigError
from tests.kit.actor_cores import Subscriber, finishes, threads, trade_stream

A, B = "A/USDT", "B/USDT"
TOPIC_A, TOPIC_B = "md.trade.SIM.A/USDT", "md.trade.SIM.B/USDT"


def test_streams_are_cut_into_batches_in_event_time_order_each_ending_empty() -> None:
    # A trades at 0, 10, ..., 240; B at 5, 15, ..., 115: batches of 10 rows interleave by
    # their first event's time; the two empty end-of-stream batches come last, A's first
    feed = FeedCore("SIM", batch_rows=10)
    streams = {A: trade_stream(0, 25), B: trade_stream(5, 12)}
    feed.load(streams)
    both = Subscriber(feed, [TOPIC_A, TOPIC_B])
    only_a = Subscriber(feed, [TOPIC_A])
    try:
        with threads() as start:
            run = start(feed.run, {TOPIC_A: 2, TOPIC_B: 1})
            got = both.until_ends(2)
            got_a = only_a.until_ends(1)
            assert finishes(run) == 37
    finally:
        both.close()
        only_a.close()
        feed.close()
    assert [(b.symbol, len(b), int(b.columns["ts"][0]) if len(b) else None)
            for _, _, b in got] == [
        (A, 10, 0), (B, 10, 5), (A, 10, 100), (B, 2, 105), (A, 5, 200), (A, 0, None),
        (B, 0, None)]
    assert [number for _, number, _ in got] == list(range(7))
    assert [topic for topic, _, b in got] == [TOPIC_A if b.symbol == A else TOPIC_B
                                              for _, _, b in got]
    assert all(b.kind == "trade" and b.venue == "SIM" for _, _, b in got)
    # the batches put back together are the streams, column by column
    for symbol, stream in streams.items():
        mine = [b for _, _, b in got if b.symbol == symbol]
        for name, column in stream.columns.items():
            np.testing.assert_array_equal(np.concatenate([b.columns[name] for b in mine]),
                                          column)
    # a subscriber of one topic gets that topic's batches only, under the same numbers
    assert [(number, b.symbol, len(b)) for _, number, b in got_a] == [
        (number, b.symbol, len(b)) for _, number, b in got if b.symbol == A]


def test_the_feed_stays_at_most_a_window_ahead_of_the_slowest_acknowledgement() -> None:
    feed = FeedCore("SIM", batch_rows=10, window=2)
    feed.load({A: trade_stream(0, 50)})      # five batches and the end
    sub = Subscriber(feed, [TOPIC_A])
    try:
        with threads() as start:
            run = start(feed.run, {TOPIC_A: 1})
            first, second = sub.recv(), sub.recv()
            assert first is not None and second is not None
            assert (first[1], second[1]) == (0, 1)
            assert sub.recv(timeout_s=0.3) is None     # two unacknowledged: the feed waits
            sub.ack(1)
            assert sub.recv(timeout_s=0.3) is None     # batch 0 still holds it back
            sub.ack(0)
            third = sub.recv()
            assert third is not None and third[1] == 2
            sub.ack(2)
            rest = sub.until_ends(1)
            assert [number for _, number, _ in rest] == [3, 4, 5]
            assert finishes(run) == 50
    finally:
        sub.close()
        feed.close()


def test_a_subscriber_that_never_subscribes_times_out_naming_its_topic() -> None:
    feed = FeedCore("SIM", batch_rows=10)
    feed.load({A: trade_stream(0, 20), B: trade_stream(5, 20)})
    sub = Subscriber(feed, [TOPIC_A])     # B's subscriber never comes
    try:
        with pytest.raises(TimeoutError, match=r"feed: subscribers missing after 0.5s: "
                                               r"\{'md.trade.SIM.B/USDT': 1\}"):
            feed.run({TOPIC_A: 1, TOPIC_B: 1}, timeout_s=0.5)
    finally:
        sub.close()
        feed.close()


def test_a_stop_request_ends_the_run_while_waiting_for_subscribers() -> None:
    feed = FeedCore("SIM", batch_rows=10)
    feed.load({A: trade_stream(0, 20)})
    try:
        with threads() as start:
            run = start(feed.run, {TOPIC_A: 1})
            feed.stop()
            with pytest.raises(InterruptedError, match="feed stopped"):
                finishes(run)
    finally:
        feed.close()


def test_a_stop_request_ends_the_run_mid_stream() -> None:
    feed = FeedCore("SIM", batch_rows=10, window=1)
    feed.load({A: trade_stream(0, 50)})
    sub = Subscriber(feed, [TOPIC_A])     # subscribes, takes one batch, never acknowledges
    try:
        with threads() as start:
            run = start(feed.run, {TOPIC_A: 1})
            assert sub.recv() is not None
            feed.stop()
            with pytest.raises(InterruptedError, match="feed stopped"):
                finishes(run)
        assert feed.events_published == 10
    finally:
        sub.close()
        feed.close()


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="batch_rows must be positive, got 0"):
        FeedCore("SIM", batch_rows=0)
