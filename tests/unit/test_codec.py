"""The msgpack codec: ``decode(encode(m)) == m`` for every message type, and every malformed
frame (truncated, random, unknown tag, wrong field type or count, trailing data, bad batch
columns) raises a typed ``CodecError`` naming what is wrong, never any other exception."""

from __future__ import annotations

import typing
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.codec import TAGS, decode, decode_many, encode, encode_many
from engine.errors import (CodecError, CorruptFrameError, InvalidMessageError,
                           UnknownMessageTypeError)
from engine.messages import (ORDER_TYPES, SIDES, TIME_IN_FORCE, Bar, CancelOrder, FillBatch,
                             FillRun, IntentBatch, MarketBatch, MarketSlice, OrderAccepted,
                             OrderBookSnapshot,
                             OrderCanceled, OrderDenied, OrderFilled, OrderRejected, Quote,
                             RiskEvent, SubmitOrder, Trade, Valuation)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# --- generators of valid messages --------------------------------------------------------------

int64s = st.integers(INT64_MIN, INT64_MAX)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=20)
levels = st.lists(st.tuples(finite_floats, finite_floats), max_size=5).map(tuple)

_BY_ANNOTATION: dict[Any, st.SearchStrategy] = {
    bool: st.booleans(),
    int: int64s,
    float: finite_floats,
    str: texts,
    float | None: st.none() | finite_floats,
    str | None: st.none() | texts,
    tuple[tuple[float, float], ...]: levels,
    bytes: st.binary(max_size=64),
    tuple[str, ...]: st.lists(texts, max_size=5).map(tuple),
    tuple[float, ...]: st.lists(finite_floats, max_size=5).map(tuple),
    tuple[int, ...]: st.lists(int64s, max_size=5).map(tuple),
}


def record(cls: type, **overrides: st.SearchStrategy) -> st.SearchStrategy:
    """Instances of the NamedTuple ``cls``: every field drawn from its annotation's strategy,
    or from ``overrides`` where a field's valid values are narrower than its type."""
    hints = typing.get_type_hints(cls)
    fields = {name: overrides.get(name, _BY_ANNOTATION[hints[name]]) for name in cls._fields}
    return st.builds(cls, **fields)


orders = {"side": st.sampled_from(SIDES), "order_type": st.sampled_from(ORDER_TYPES),
          "time_in_force": st.sampled_from(TIME_IN_FORCE)}

BATCH_DTYPES = (np.dtype("<i8"), np.dtype("<f8"), np.dtype("|i1"))


@st.composite
def market_batches(draw: st.DrawFn, max_rows: int = 30) -> MarketBatch:
    """A batch of 0..max_rows rows in up to five int64/float64/int8 columns."""
    rows = draw(st.integers(0, max_rows))
    names = draw(st.lists(st.text(min_size=1, max_size=8), max_size=5, unique=True))
    columns = {}
    for name in names:
        dtype = draw(st.sampled_from(BATCH_DTYPES))
        # columns travel as raw bytes, so NaN and infinities survive too
        columns[name] = draw(hnp.arrays(dtype, rows))
    return MarketBatch(draw(st.sampled_from(("bar", "trade", "quote"))), draw(texts),
                       draw(texts), columns, interval_ns=draw(st.integers(0, INT64_MAX)),
                       ts_init=draw(int64s))


# One entry per message type; a type added to TAGS without one fails
# test_every_tagged_type_has_a_generator.
MESSAGES: dict[type, st.SearchStrategy] = {
    Bar: record(Bar),
    Trade: record(Trade, aggressor=st.sampled_from((-1, 0, 1))),
    Quote: record(Quote),
    OrderBookSnapshot: record(OrderBookSnapshot),
    MarketBatch: market_batches(),
    MarketSlice: record(MarketSlice),
    SubmitOrder: record(SubmitOrder, **orders),
    CancelOrder: record(CancelOrder),
    OrderAccepted: record(OrderAccepted),
    OrderRejected: record(OrderRejected),
    OrderDenied: record(OrderDenied),
    OrderFilled: record(OrderFilled, side=st.sampled_from(SIDES),
                        liquidity=st.sampled_from(("MAKER", "TAKER"))),
    OrderCanceled: record(OrderCanceled),
    IntentBatch: record(IntentBatch),
    Valuation: record(Valuation),
    FillBatch: record(FillBatch),
    FillRun: record(FillRun),
    RiskEvent: record(RiskEvent),
}

any_message = st.sampled_from(list(TAGS)).flatmap(lambda cls: MESSAGES[cls])
RECORD_TYPES = [cls for cls in TAGS if cls is not MarketBatch]


def repack(message: Any, edit: Any) -> bytes:
    """The frame of ``message`` with its msgpack payload array changed by ``edit(payload)``."""
    payload = msgpack.unpackb(encode(message), raw=False)
    edit(payload)
    return msgpack.packb(payload, use_bin_type=True)


SAMPLES: dict[type, Any] = {
    Bar: Bar("binance", "BTC/USDT", 60_000_000_000, 100.0, 101.5, 99.0, 100.5, 12.25,
             1_700_000_060_000_000_000, 1_700_000_060_000_000_001),
    Trade: Trade("binance", "BTC/USDT", 100.5, 0.25, 1, "t-1", 1, 2),
    Quote: Quote("binance", "BTC/USDT", 100.0, 100.5, 3.0, 4.0, 1, 2),
    OrderBookSnapshot: OrderBookSnapshot("binance", "BTC/USDT", ((100.0, 1.0), (99.5, 2.0)),
                                         ((100.5, 1.5),), 1, 2),
    SubmitOrder: SubmitOrder("s1", "binance", "BTC/USDT", "s1-1", "SELL", "TRAILING_STOP", 0.5,
                             None, None, "GTC", 1, 2, True, False, None, 0.02, "s1-0"),
    CancelOrder: CancelOrder("s1", "binance", "BTC/USDT", "s1-1", 1, 2),
    OrderAccepted: OrderAccepted("s1", "binance", "BTC/USDT", "s1-1", "V-1", 1, 2),
    OrderRejected: OrderRejected("s1", "binance", "BTC/USDT", "s1-1", "bad qty", 1, 2),
    OrderDenied: OrderDenied("s1", "binance", "BTC/USDT", "s1-1", "max position", 1, 2),
    OrderFilled: OrderFilled("s1", "binance", "BTC/USDT", "s1-1", "V-1", "F-1", "BUY", 0.5,
                             100.0, 0.5, 0.0, "TAKER", 0.025, 1.0, 1, 2),
    OrderCanceled: OrderCanceled("s1", "binance", "BTC/USDT", "s1-1", "canceled", 1, 2),
    IntentBatch: IntentBatch("sma_cross:BTC/USDT", "BTC/USDT", 9, 0, -1, "", "",
                             np.array([3], "<i8").tobytes(), np.array([0], "|i1").tobytes(),
                             np.array([0.95]).tobytes(), np.array([100.0]).tobytes()),
    Valuation: Valuation(1, 100_000.0, ("BTC/USDT", "ETH/USDT"), (100.0, 10.0), 1, 3.5,
                         ("ETH/USDT",)),
    FillBatch: FillBatch(("s1", "s1"), ("BTC/USDT", "BTC/USDT"), ("s1-1", "s1-1"),
                         ("BUY", "BUY"), (0.25, 0.25), (0.25, 0.0), (100.0, 100.5),
                         (0.0125, 0.0126), (5, 6)),
    RiskEvent: RiskEvent("state", "portfolio", "", "", "HALTED", "daily_loss: -2.1%", 0.0, 1,
                         1),
    MarketSlice: MarketSlice("trade", "SIM", "BTC/USDT", 65_536, 131_072, 0),
    FillRun: FillRun("s1", "BTC/USDT", "s1-1", "BUY", np.array([0.25, 0.25]).tobytes(),
                     np.array([0.25, 0.0]).tobytes(), np.array([100.0, 100.5]).tobytes(),
                     np.array([0.0125, 0.0126]).tobytes(), np.array([5, 6], "<i8").tobytes()),
}


def bar_batch(rows: int = 3) -> MarketBatch:
    ts = np.arange(rows, dtype=np.int64) * 60_000_000_000
    close = np.linspace(100.0, 101.0, rows)
    return MarketBatch("bar", "binance", "BTC/USDT",
                       {"ts": ts, "open": close, "high": close + 1, "low": close - 1,
                        "close": close, "volume": np.ones(rows)},
                       interval_ns=60_000_000_000, ts_init=7)


def batch_frame(columns: list) -> bytes:
    """A hand-built MarketBatch frame with the given ``[name, dtype, bytes]`` column entries."""
    return msgpack.packb([TAGS[MarketBatch], "bar", "binance", "BTC/USDT", 60, 0, columns],
                         use_bin_type=True)


# --- round trips ----------------------------------------------------------------------------


def test_every_tagged_type_has_a_generator() -> None:
    missing = [cls.__name__ for cls in TAGS if cls not in MESSAGES]
    assert not missing, f"add a generator to MESSAGES for {missing}"
    missing_samples = [cls.__name__ for cls in RECORD_TYPES if cls not in SAMPLES]
    assert not missing_samples, f"add a sample to SAMPLES for {missing_samples}"


@pytest.mark.parametrize("cls", list(TAGS), ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_decode_inverts_encode(cls: type, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[cls])
    decoded = decode(encode(message))
    assert type(decoded) is cls
    assert decoded == message


@settings(max_examples=60, deadline=None)
@given(batch=market_batches())
def test_batch_columns_keep_order_dtype_and_values(batch: MarketBatch) -> None:
    decoded = decode(encode(batch))
    assert list(decoded.columns) == list(batch.columns)
    for name, column in batch.columns.items():
        assert decoded.columns[name].dtype == column.dtype
        assert decoded.columns[name].tobytes() == column.tobytes()  # bit-exact, NaN payloads too
    assert len(decoded) == len(batch)
    assert decoded.ts_event == batch.ts_event


def test_schema_bar_batch_round_trips() -> None:
    batch = bar_batch(5)
    decoded = decode(encode(batch))
    assert decoded == batch
    assert decoded.ts_event == 4 * 60_000_000_000 + 60_000_000_000


def test_non_contiguous_column_round_trips() -> None:
    strided = np.arange(10, dtype=np.float64)[::2]
    batch = MarketBatch("trade", "binance", "BTC/USDT", {"price": strided})
    decoded = decode(encode(batch))
    assert decoded == batch
    np.testing.assert_array_equal(decoded.columns["price"], [0.0, 2.0, 4.0, 6.0, 8.0])


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda cls: cls.__name__)
def test_sample_round_trips(cls: type) -> None:
    decoded = decode(encode(SAMPLES[cls]))
    assert type(decoded) is cls and decoded == SAMPLES[cls]


def test_int_in_a_float_field_decodes_as_float() -> None:
    bar = Bar("v", "s", 60, 100, 101, 99, 100, 5, 1, 2)  # prices given as ints
    decoded = decode(encode(bar))
    assert decoded == bar
    assert type(decoded.open) is float and type(decoded.volume) is float


def test_accepts_bytearray_and_memoryview_frames() -> None:
    frame = encode(SAMPLES[Quote])
    assert decode(bytearray(frame)) == SAMPLES[Quote]
    assert decode(memoryview(frame)) == SAMPLES[Quote]


def test_encode_refuses_a_non_message() -> None:
    with pytest.raises(TypeError, match="tuple"):
        encode(("binance", "BTC/USDT"))


@pytest.mark.parametrize("dtype", [">f8", "<u4", "<f2"])
def test_encode_never_makes_a_batch_frame_that_decode_rejects(dtype: str) -> None:
    batch = MarketBatch("bar", "binance", "BTC/USDT",
                        {"close": np.array([1.0, 2.0, 3.0], dtype=dtype)})
    try:
        frame = encode(batch)
    except TypeError as exc:
        assert "close" in str(exc)  # refused at the sender, naming the column
        return
    decoded = decode(frame)  # big-endian columns travel as little-endian, same values
    assert decoded.columns["close"].dtype.byteorder in ("<", "=")
    np.testing.assert_array_equal(decoded.columns["close"], batch.columns["close"])


# --- equality -------------------------------------------------------------------------------


def test_bar_never_equals_a_trade_with_the_same_values() -> None:
    bar = SAMPLES[Bar]
    trade_shaped = tuple.__new__(Trade, tuple(bar))
    assert tuple(trade_shaped) == tuple(bar)
    assert bar != trade_shaped and trade_shaped != bar
    assert not bar.__eq__(trade_shaped)    # __eq__ itself, not only __ne__
    assert bar != tuple(bar) and tuple(bar) != bar


def test_same_layout_event_types_are_not_equal() -> None:
    # OrderRejected and OrderDenied have identical fields: only the type tells them apart
    values = ("s1", "binance", "BTC/USDT", "s1-1", "too big", 1, 2)
    rejected, denied = OrderRejected(*values), OrderDenied(*values)
    assert rejected != denied
    assert len({rejected, denied}) == 2
    assert type(decode(encode(denied))) is OrderDenied


def test_batches_compare_by_type_and_content() -> None:
    assert bar_batch() == bar_batch()
    assert bar_batch() != bar_batch(4)
    other_dtype = bar_batch()
    other_dtype.columns["volume"] = other_dtype.columns["volume"].astype(np.float32)
    assert bar_batch() != other_dtype
    assert bar_batch() != "not a batch"


# --- corrupt frames -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(message=any_message)
def test_every_truncation_is_a_codec_error(message: Any) -> None:
    frame = encode(message)
    for cut in range(len(frame)):
        with pytest.raises(CodecError) as info:
            decode(frame[:cut])
        assert isinstance(info.value, (CorruptFrameError, InvalidMessageError)), (cut, info.value)


def test_truncation_is_reported_as_truncated() -> None:
    frame = encode(SAMPLES[OrderFilled])
    with pytest.raises(CorruptFrameError, match="truncated"):
        decode(frame[:-3])


@settings(max_examples=300, deadline=None)
@given(frame=st.binary(max_size=200))
def test_random_bytes_raise_only_codec_errors(frame: bytes) -> None:
    try:
        message = decode(frame)
    except CodecError:
        return
    assert type(message) in TAGS  # rarely, random bytes do spell a valid message


msgpack_values = st.recursive(
    st.none() | st.booleans() | int64s | st.floats() | st.text(max_size=8)
    | st.binary(max_size=16),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(cls=st.sampled_from(list(TAGS)), data=st.data())
def test_well_formed_payloads_with_a_known_tag_raise_only_codec_errors(
        cls: type, data: st.DataObject) -> None:
    # mostly the right number of fields, so the per-field checks are what gets exercised
    count = 6 if cls is MarketBatch else len(cls._fields)
    size = data.draw(st.sampled_from((count, count, count, count - 1, count + 1)))
    body = data.draw(st.lists(msgpack_values, min_size=size, max_size=size))
    frame = msgpack.packb([TAGS[cls], *body], use_bin_type=True)
    try:
        message = decode(frame)
    except CodecError:
        return
    assert type(message) is cls


@pytest.mark.parametrize("tag", [99, -1, 9, "1", True, None, 1.0])
def test_unknown_tag_names_the_tag(tag: Any) -> None:
    frame = msgpack.packb([tag, "binance", "BTC/USDT"], use_bin_type=True)
    with pytest.raises(UnknownMessageTypeError) as info:
        decode(frame)
    assert repr(tag) in str(info.value)


@pytest.mark.parametrize("payload", [{"tag": 1}, [], 1, "Bar", b"\x01"],
                         ids=["map", "empty-array", "int", "str", "bin"])
def test_frame_without_a_message_array_is_corrupt(payload: Any) -> None:
    with pytest.raises(CorruptFrameError):
        decode(msgpack.packb(payload, use_bin_type=True))


@pytest.mark.parametrize("frame", ["not bytes", None, 5, [1, 2]])
def test_non_bytes_frame_is_corrupt(frame: Any) -> None:
    with pytest.raises(CorruptFrameError, match="bytes"):
        decode(frame)


WRONG_VALUE = {bool: 1, int: "not an int", float: "not a float", str: 42,
               float | None: "not a float", str | None: 42,
               tuple[tuple[float, float], ...]: "not levels",
               bytes: "not bytes", tuple[str, ...]: [1, 2], tuple[float, ...]: ["x"],
               tuple[int, ...]: [1.5]}

WRONG_FIELDS = [(cls, name, WRONG_VALUE[typing.get_type_hints(cls)[name]])
                for cls in RECORD_TYPES for name in cls._fields]


@pytest.mark.parametrize("cls,field,value", WRONG_FIELDS,
                         ids=[f"{c.__name__}.{f}" for c, f, _ in WRONG_FIELDS])
def test_wrong_field_type_names_type_and_field(cls: type, field: str, value: Any) -> None:
    index = 1 + cls._fields.index(field)

    def edit(payload: list) -> None:
        payload[index] = value

    with pytest.raises(InvalidMessageError, match=rf"\b{cls.__name__}\.{field}\b"):
        decode(repack(SAMPLES[cls], edit))


@pytest.mark.parametrize("cls,field,value", [
    (Bar, "interval_ns", True),              # a bool is not an int
    (Bar, "ts_event", 1.5),                  # nor is a float
    (Quote, "bid", True),                    # a bool is not a price
    (SubmitOrder, "limit_price", "99"),
    (SubmitOrder, "reduce_only", 1),         # an int is not a flag
    (SubmitOrder, "post_only", None),
    (OrderBookSnapshot, "bids", [[100.0]]),  # a level needs price and size
    (OrderBookSnapshot, "asks", [[100.0, "1"]]),
    (OrderBookSnapshot, "bids", [100.0, 1.0]),
], ids=lambda v: v.__name__ if isinstance(v, type) else repr(v))
def test_subtly_wrong_field_types_are_invalid(cls: type, field: str, value: Any) -> None:
    index = 1 + cls._fields.index(field)

    def edit(payload: list) -> None:
        payload[index] = value

    with pytest.raises(InvalidMessageError, match=rf"{cls.__name__}\.{field}"):
        decode(repack(SAMPLES[cls], edit))


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("change", ["missing", "extra"])
def test_wrong_field_count_is_invalid(cls: type, change: str) -> None:
    def edit(payload: list) -> None:
        if change == "missing":
            payload.pop()
        else:
            payload.append(0)

    with pytest.raises(InvalidMessageError, match=rf"{cls.__name__} frame has \d+ fields, "
                                                  rf"expected {len(cls._fields)}"):
        decode(repack(SAMPLES[cls], edit))


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_wrong_batch_field_count_is_invalid(change: str) -> None:
    def edit(payload: list) -> None:
        if change == "missing":
            payload.pop()
        else:
            payload.append(0)

    with pytest.raises(InvalidMessageError, match="MarketBatch frame has"):
        decode(repack(bar_batch(), edit))


@pytest.mark.parametrize("message", [SAMPLES[Bar], SAMPLES[OrderBookSnapshot], bar_batch()],
                         ids=["Bar", "OrderBookSnapshot", "MarketBatch"])
@pytest.mark.parametrize("extra", [b"\x00", b"\xc0", None], ids=["byte", "nil", "frame"])
def test_trailing_data_is_corrupt(message: Any, extra: bytes | None) -> None:
    frame = encode(message)
    with pytest.raises(CorruptFrameError, match="trailing"):
        decode(frame + (frame if extra is None else extra))


@pytest.mark.parametrize("index,field,value", [
    (1, "kind", 1), (2, "venue", None), (3, "symbol", b"BTC"), (4, "interval_ns", 1.5),
    (5, "ts_init", "0"),
])
def test_wrong_batch_field_type_names_the_field(index: int, field: str, value: Any) -> None:
    def edit(payload: list) -> None:
        payload[index] = value

    with pytest.raises(InvalidMessageError, match=rf"MarketBatch\.{field}"):
        decode(repack(bar_batch(), edit))


def test_batch_columns_must_be_a_list() -> None:
    with pytest.raises(InvalidMessageError, match=r"MarketBatch\.columns"):
        decode(msgpack.packb([TAGS[MarketBatch], "bar", "v", "s", 60, 0, {"ts": b""}],
                             use_bin_type=True))


@pytest.mark.parametrize("entry", [
    ["close", "<f8"],                       # no bytes
    ["close", "<f8", "00000000"],           # text, not bytes
    [1, "<f8", b"\x00" * 8],                # name not text
    ["close", 8, b"\x00" * 8],              # dtype not text
    "close",
])
def test_malformed_batch_column_entry_is_invalid(entry: Any) -> None:
    with pytest.raises(InvalidMessageError, match=r"\[name, dtype, bytes\]"):
        decode(batch_frame([entry]))


@pytest.mark.parametrize("dtype,nbytes", [("<f8", 12), ("<i8", 7), ("<i4", 5)])
def test_batch_column_bytes_not_a_multiple_of_the_item_size(dtype: str, nbytes: int) -> None:
    with pytest.raises(InvalidMessageError, match=r"'close' holds \d+ bytes, not a multiple"):
        decode(batch_frame([["close", dtype, b"\x00" * nbytes]]))


@pytest.mark.parametrize("dtype", ["|O", "<U4", ">f8", "<c16", "float64", "nonsense"])
def test_batch_column_with_unsupported_dtype(dtype: str) -> None:
    with pytest.raises(InvalidMessageError, match="unsupported dtype"):
        decode(batch_frame([["close", dtype, b"\x00" * 16]]))


def test_batch_columns_of_different_lengths() -> None:
    columns = [["ts", "<i8", np.arange(3, dtype=np.int64).tobytes()],
               ["close", "<f8", np.ones(2).tobytes()]]
    with pytest.raises(InvalidMessageError, match="'close' has 2 rows, other columns have 3"):
        decode(batch_frame(columns))


def test_submit_order_fields_keep_their_positions() -> None:
    # the wire contract: the first twelve fields never move; new ones come after ts_init
    assert SubmitOrder._fields[:12] == (
        "strategy_id", "venue", "symbol", "client_order_id", "side", "order_type", "quantity",
        "limit_price", "stop_price", "time_in_force", "ts_event", "ts_init")
    assert SubmitOrder._fields[12:] == ("reduce_only", "post_only", "trail_offset",
                                        "trail_percent", "oco_group")
    old_style = SubmitOrder("s1", "SIM", "BTC/USDT", "s1-1", "BUY", "MARKET", 1.0, None, None,
                            "GTC", 1, 2)
    assert old_style[12:] == (False, False, None, None, None)
    assert decode(encode(old_style)) == old_style


@pytest.mark.parametrize("message", [
    SubmitOrder("s1", "SIM", "BTC/USDT", "s1-2", "SELL", "STOP_LIMIT", 1.0, 95.0, 96.0, "GTC",
                1, 2, True, False, None, None, "grp"),
    SubmitOrder("s1", "SIM", "BTC/USDT", "s1-3", "BUY", "LIMIT", 1.0, 95.0, None, "GTC", 1, 2,
                False, True, None, None, None),
    SubmitOrder("s1", "SIM", "BTC/USDT", "s1-4", "SELL", "TRAILING_STOP", 1.0, None, None,
                "GTC", 1, 2, True, False, 150.0, None, "grp"),
], ids=["stop-limit-oco", "post-only", "trailing-offset"])
def test_protective_order_fields_round_trip(message: SubmitOrder) -> None:
    assert decode(encode(message)) == message
    assert decode_many(encode_many([message, message])) == [message, message]
