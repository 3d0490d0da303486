"""The one msgpack codec for every message type.

A record is framed as a msgpack array ``[tag, field1, field2, ...]`` in declaration order; a
``MarketBatch`` as ``[tag, kind, venue, symbol, interval_ns, ts_init, [[name, dtype, bytes],
...]]`` so numpy columns travel as raw bytes (one frame per batch). Decoding checks the tag,
the field count and every field's type, and raises a typed ``CodecError`` naming the message
type and field at fault.

Field order is the protocol, like the tags: a record type only ever gains fields at its end
(``SubmitOrder``'s ``reduce_only`` ... ``oco_group`` came after ``ts_init``), and every frame
carries all of them.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from engine.errors import (CodecError, CorruptFrameError, InvalidMessageError,
                           UnknownMessageTypeError)
from engine.gcpause import gc_paused
from engine.messages import (Bar, CancelOrder, FillBatch, FillRun, IntentBatch, MarketBatch,
                             MarketSlice, OrderAccepted, OrderBookSnapshot, OrderCanceled,
                             OrderDenied, OrderFilled, OrderRejected, Quote, RiskEvent,
                             SubmitOrder, Trade, Valuation)

# Wire tags are part of the protocol: never renumber, only append.
TAGS: dict[type, int] = {
    Bar: 1, Trade: 2, Quote: 3, OrderBookSnapshot: 4, MarketBatch: 5, MarketSlice: 6,
    SubmitOrder: 10, CancelOrder: 11,
    OrderAccepted: 20, OrderRejected: 21, OrderDenied: 22, OrderFilled: 23, OrderCanceled: 24,
    IntentBatch: 30, Valuation: 31, FillBatch: 32, RiskEvent: 33, FillRun: 34,
}
TYPES_BY_TAG: dict[int, type] = {tag: cls for cls, tag in TAGS.items()}

_ALLOWED_DTYPES = frozenset({"<i8", "<i4", "<i2", "|i1", "<u8", "<f8", "<f4", "|b1", "|u1"})


def _check_int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("an integer")
    return value


def _check_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError("a boolean")
    return value


def _check_float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise TypeError("a number")


def _check_str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("a string")
    return value


def _check_bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise TypeError("bytes")
    return value


# The list checks below look at the set of element types (built in C, ~30 ns an element)
# instead of calling a check per element: a risk audit frame carries columns of a hundred
# thousand fills, and a call per value made decoding cost more than the audit itself.

def _check_strs(value: Any) -> tuple[str, ...]:
    if type(value) not in (list, tuple) or not set(map(type, value)) <= _STR:
        raise TypeError("a list of strings")
    return tuple(value)


def _check_floats(value: Any) -> tuple[float, ...]:
    if type(value) not in (list, tuple):
        raise TypeError("a list of numbers")
    kinds = set(map(type, value))
    if kinds <= _FLOAT:
        return tuple(value)
    if kinds <= _NUMBER:   # (a bool is neither)
        return tuple(map(float, value))
    raise TypeError("a list of numbers")


def _check_ints(value: Any) -> tuple[int, ...]:
    if type(value) not in (list, tuple) or not set(map(type, value)) <= _INT:
        raise TypeError("a list of integers")
    return tuple(value)


_STR, _INT, _FLOAT, _NUMBER = frozenset({str}), frozenset({int}), frozenset({float}), \
    frozenset({int, float})


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check_optional(value: Any) -> Any:
        return None if value is None else check(value)
    return check_optional


def _check_levels(value: Any) -> tuple[tuple[float, float], ...]:
    if type(value) not in (list, tuple):
        raise TypeError("a list of [price, size] levels")
    out = []
    for level in value:
        if type(level) not in (list, tuple) or len(level) != 2:
            raise TypeError("a list of [price, size] levels")
        out.append((_check_float(level[0]), _check_float(level[1])))
    return tuple(out)


def _checker(annotation: Any) -> Callable[[Any], Any]:
    if annotation is bool:
        return _check_bool
    if annotation is int:
        return _check_int
    if annotation is float:
        return _check_float
    if annotation is str:
        return _check_str
    if annotation is bytes:
        return _check_bytes
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _optional(_checker(inner))
    if origin is tuple and args == (str, Ellipsis):
        return _check_strs
    if origin is tuple and args == (float, Ellipsis):
        return _check_floats
    if origin is tuple and args == (int, Ellipsis):
        return _check_ints
    if origin is tuple:
        return _check_levels
    raise TypeError(f"no codec check for annotation {annotation!r}")


_FIELDS: dict[type, tuple[tuple[str, Callable[[Any], Any]], ...]] = {}
_cls: Any   # the record classes (NamedTuples)
for _cls in TAGS:
    if _cls is MarketBatch:
        continue
    _hints = typing.get_type_hints(_cls)
    _FIELDS[_cls] = tuple((name, _checker(_hints[name])) for name in _cls._fields)

# The field types a well-formed record of each type decodes to, when every optional field is
# set and numbers have their declared type: such a record needs no per-field checks.
_EXACT: dict[type, tuple[type, ...]] = {}
for _cls in _FIELDS:
    _hints = typing.get_type_hints(_cls)
    _types = []
    for _name in _cls._fields:
        _hint = _hints[_name]
        _origin = typing.get_origin(_hint)
        if _origin in (typing.Union, types.UnionType):
            (_hint,) = [a for a in typing.get_args(_hint) if a is not type(None)]
            _origin = typing.get_origin(_hint)
        _types.append(list if _origin is tuple else _hint)
    if all(t in (bool, int, float, str, bytes) for t in _types):
        _EXACT[_cls] = tuple(_types)

_packer_options = {"use_bin_type": True}


def encode(message: Any) -> bytes:
    """Encode any message to one msgpack frame."""
    cls = type(message)
    tag = TAGS.get(cls)
    if tag is None:
        raise TypeError(f"cannot encode {cls.__name__}: not a message type")
    if cls is MarketBatch:
        columns = []
        for name, array in message.columns.items():
            array = np.ascontiguousarray(array)
            if array.dtype.byteorder == ">":
                array = array.astype(array.dtype.newbyteorder("<"))
            if array.dtype.str not in _ALLOWED_DTYPES:
                raise TypeError(f"MarketBatch column {name!r} has dtype {array.dtype.str!r}, "
                                f"which the codec does not carry; use one of "
                                f"{', '.join(sorted(_ALLOWED_DTYPES))}")
            columns.append([name, array.dtype.str, array.tobytes()])
        payload = [tag, message.kind, message.venue, message.symbol, message.interval_ns,
                   message.ts_init, columns]
    elif cls is OrderBookSnapshot:
        payload = [tag, message.venue, message.symbol, [list(lv) for lv in message.bids],
                   [list(lv) for lv in message.asks], message.ts_event, message.ts_init]
    else:
        payload = [tag, *message]
    return msgpack.packb(payload, **_packer_options)


def decode(frame: bytes | bytearray | memoryview) -> Any:
    """Decode one frame made by :func:`encode`; raises a ``CodecError`` subclass if it is bad."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise CorruptFrameError(f"frame must be bytes, got {type(frame).__name__}")
    try:
        payload = msgpack.unpackb(frame, raw=False, use_list=True, strict_map_key=True)
    except msgpack.ExtraData:
        raise CorruptFrameError(f"frame of {len(frame)} bytes has trailing data after the "
                                f"message") from None
    except (msgpack.OutOfData, ValueError) as exc:
        kind = "truncated" if isinstance(exc, msgpack.OutOfData) or "incomplete" in str(
            exc).lower() else "not valid msgpack"
        raise CorruptFrameError(f"frame of {len(frame)} bytes is {kind}: {exc}") from None
    except Exception as exc:  # msgpack raises assorted errors on garbage input
        raise CorruptFrameError(f"frame of {len(frame)} bytes is not valid msgpack: "
                                f"{type(exc).__name__}: {exc}") from None
    return _from_payload(payload)


def encode_many(messages: list[Any]) -> bytes:
    """Encode a sequence of records (not batches) as one frame: cheaper than one frame each
    when many small messages travel together."""
    with gc_paused():
        payload = []
        for message in messages:
            tag = TAGS.get(type(message))
            if tag is None or type(message) in (MarketBatch, OrderBookSnapshot):
                raise TypeError(f"encode_many carries plain records, not "
                                f"{type(message).__name__}")
            payload.append([tag, *message])
        return msgpack.packb(payload, **_packer_options)


def decode_many(frame: bytes) -> list[Any]:
    """Decode a frame made by :func:`encode_many`; a bad record raises a ``CodecError`` naming
    its position."""
    with gc_paused():
        try:
            payload = msgpack.unpackb(frame, raw=False, use_list=True, strict_map_key=True)
        except Exception as exc:
            raise CorruptFrameError(f"frame of {len(frame)} bytes is not a valid record list: "
                                    f"{type(exc).__name__}: {exc}") from None
        if type(payload) is not list:
            raise CorruptFrameError("frame does not hold a list of records")
        out = []
        for i, item in enumerate(payload):
            try:
                out.append(_from_payload(item))
            except CodecError as exc:
                raise type(exc)(f"record {i}: {exc}") from None
        return out


def _from_payload(payload: Any) -> Any:
    if type(payload) is not list or not payload:
        raise CorruptFrameError(f"frame does not hold a message array (got "
                                f"{type(payload).__name__})")
    tag = payload[0]
    cls = TYPES_BY_TAG.get(tag) if type(tag) is int else None
    if cls is None:
        raise UnknownMessageTypeError(f"unknown message type tag {tag!r}; known tags: "
                                      f"{sorted(TYPES_BY_TAG)}")
    if cls is MarketBatch:
        return _decode_batch(payload)
    fields = _FIELDS[cls]
    values = payload[1:]
    if tuple(map(type, values)) == _EXACT.get(cls):
        return tuple.__new__(cls, values)   # the common case: every field already right
    if len(values) != len(fields):
        raise InvalidMessageError(f"{cls.__name__} frame has {len(values)} fields, expected "
                                  f"{len(fields)} ({', '.join(n for n, _ in fields)})")
    out = []
    for (name, check), value in zip(fields, values):
        try:
            out.append(check(value))
        except TypeError as exc:
            raise InvalidMessageError(f"{cls.__name__}.{name} must be {exc}, got "
                                      f"{type(value).__name__} {value!r:.60}") from None
    return tuple.__new__(cls, out)


def _decode_batch(payload: list) -> MarketBatch:
    names = ("kind", "venue", "symbol", "interval_ns", "ts_init", "columns")
    if len(payload) != 1 + len(names):
        raise InvalidMessageError(f"MarketBatch frame has {len(payload) - 1} fields, expected "
                                  f"{len(names)} ({', '.join(names)})")
    _, kind, venue, symbol, interval_ns, ts_init, raw_columns = payload
    for name, value, check in (("kind", kind, _check_str), ("venue", venue, _check_str),
                               ("symbol", symbol, _check_str),
                               ("interval_ns", interval_ns, _check_int),
                               ("ts_init", ts_init, _check_int)):
        try:
            check(value)
        except TypeError as exc:
            raise InvalidMessageError(f"MarketBatch.{name} must be {exc}, got "
                                      f"{type(value).__name__}") from None
    if type(raw_columns) is not list:
        raise InvalidMessageError("MarketBatch.columns must be a list of [name, dtype, bytes]")
    columns: dict[str, np.ndarray] = {}
    length = None
    for entry in raw_columns:
        if (type(entry) is not list or len(entry) != 3 or type(entry[0]) is not str
                or type(entry[1]) is not str or type(entry[2]) is not bytes):
            raise InvalidMessageError("MarketBatch.columns entries must be [name, dtype, bytes]")
        name, dtype, data = entry
        if dtype not in _ALLOWED_DTYPES:
            raise InvalidMessageError(f"MarketBatch column {name!r} has unsupported dtype "
                                      f"{dtype!r}")
        itemsize = np.dtype(dtype).itemsize
        if len(data) % itemsize:
            raise InvalidMessageError(f"MarketBatch column {name!r} holds {len(data)} bytes, "
                                      f"not a multiple of its {dtype} item size {itemsize}")
        array = np.frombuffer(data, dtype=dtype)
        if length is not None and len(array) != length:
            raise InvalidMessageError(f"MarketBatch column {name!r} has {len(array)} rows, "
                                      f"other columns have {length}")
        length = len(array)
        columns[name] = array
    return MarketBatch(kind, venue, symbol, columns, interval_ns=interval_ns, ts_init=ts_init)
