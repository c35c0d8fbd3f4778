"""Unit tests of the pieces that run inside instances: framing, log capture, results, loading."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fcompute.runtime import errors
from fcompute.runtime.agent import ResultError, to_bytes
from fcompute.runtime.loader import UserCodeError, load
from fcompute.runtime.logs import TAIL_BYTES, LogSink, LogStream
from fcompute.runtime.protocol import (
    HEADER,
    MAX_FRAME,
    FrameDecoder,
    FrameTooLarge,
    Kind,
    encode,
)


def test_round_trip_keeps_meta_and_binary_payload() -> None:
    payload = bytes(range(256)) * 3
    meta = {"requestId": "r-1", "nested": {"a": [1, 2]}, "text": "\u00e9\u4e2d"}
    frames = FrameDecoder().feed(encode(Kind.INVOKE, meta, payload))
    assert frames == [(Kind.INVOKE, meta, payload)]


def test_empty_meta_and_payload() -> None:
    assert FrameDecoder().feed(encode(Kind.READY)) == [(Kind.READY, {}, b"")]
    assert FrameDecoder().feed(encode(Kind.RESULT, {}, b"x")) == [(Kind.RESULT, {}, b"x")]


def test_decoder_reassembles_byte_by_byte() -> None:
    data = encode(Kind.HTTP_START, {"status": 200}) + encode(Kind.HTTP_BODY, None, b"abc")
    decoder = FrameDecoder()
    frames = []
    for i in range(len(data)):
        frames += decoder.feed(data[i:i + 1])
    assert frames == [(Kind.HTTP_START, {"status": 200}, b""), (Kind.HTTP_BODY, {}, b"abc")]


def test_decoder_splits_many_frames_in_one_chunk_and_keeps_the_rest() -> None:
    frames = [encode(Kind.HTTP_BODY, None, str(i).encode() * i) for i in range(50)]
    data = b"".join(frames)
    decoder = FrameDecoder()
    first = decoder.feed(data[:-3])
    assert len(first) == 49
    rest = decoder.feed(data[-3:])
    assert rest == [(Kind.HTTP_BODY, {}, b"49" * 49)]
    assert [payload for _, _, payload in first + rest] == [str(i).encode() * i for i in range(50)]


def test_payload_that_looks_like_a_header_is_not_parsed() -> None:
    tricky = HEADER.pack(5, Kind.ERROR, 2) + b"{}abc"
    assert FrameDecoder().feed(encode(Kind.RESULT, {"k": 1}, tricky)) == [
        (Kind.RESULT, {"k": 1}, tricky)]


def test_malformed_frames_are_refused() -> None:
    with pytest.raises(FrameTooLarge):
        FrameDecoder().feed(HEADER.pack(MAX_FRAME + 1, Kind.RESULT, 0))
    with pytest.raises(FrameTooLarge):
        FrameDecoder(1000).feed(HEADER.pack(1001, Kind.RESULT, 0))
    with pytest.raises(ValueError, match="meta is a list"):
        FrameDecoder().feed(HEADER.pack(6, Kind.RESULT, 6) + b"[1, 2]")
    with pytest.raises(ValueError, match="malformed"):
        FrameDecoder().feed(HEADER.pack(2, Kind.RESULT, 3) + b"{}")
    with pytest.raises(ValueError, match="99"):
        FrameDecoder().feed(HEADER.pack(2, 99, 2) + b"{}")  # unknown kind


def test_log_sink_writes_start_marker_lazily_and_keeps_a_tail(tmp_path: Path) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        sink = LogSink(fd)
        sink.begin(b"START\n")
        assert path.read_bytes() == b""
        stream = LogStream(sink, "<stdout>")
        stream.write("partial ")
        assert path.read_bytes() == b""  # line-buffered
        stream.write("line\n")
        assert path.read_bytes() == b"START\npartial line\n"
        for i in range(1000):
            stream.write(f"line {i:04d}\n")
        tail = sink.tail_bytes()
        assert len(tail) == TAIL_BYTES
        assert tail.endswith(b"line 0999\n")
        sink.begin(b"NEXT\n")
        assert sink.tail_bytes() == b""
        stream.buffer.write(b"raw bytes\n")
        assert sink.tail_bytes() == b"NEXT\nraw bytes\n"
        assert path.read_bytes().endswith(b"NEXT\nraw bytes\n")
    finally:
        os.close(fd)


def test_log_sink_survives_a_closed_log() -> None:
    read, write = os.pipe()
    os.close(read)
    sink = LogSink(write)
    try:
        sink.write(b"nobody reads this\n")  # must not raise
        assert sink.tail_bytes() == b"nobody reads this\n"
    finally:
        os.close(write)


@pytest.mark.parametrize(("value", "expected"), [
    ("t\u00e9", "t\u00e9".encode()), (b"\x00\xff", b"\x00\xff"), (None, b""),
    (bytearray(b"ba"), b"ba"), ({"a": 1}, b'{"a": 1}'), ([1, "x"], b'[1, "x"]'), (3, b"3"),
    (True, b"true"),
])
def test_result_conversion(value: object, expected: bytes) -> None:
    assert to_bytes(value) == expected


@pytest.mark.parametrize("value", [object(), {"a": object()}, {1, 2}, 1j])
def test_unserialisable_results(value: object) -> None:
    with pytest.raises(ResultError):
        to_bytes(value)


@pytest.fixture
def code_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = {
        "good_mod.py": "def handler(e, c):\n    return 'ok'\nnot_callable = 1\n",
        "broken_syntax.py": "def handler(:\n",
        "raises_on_import.py": "raise ValueError('nope')\n",
        "pkg_x/__init__.py": "",
        "pkg_x/inner.py": "def handler(e, c):\n    return 'inner'\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_loader_finds_handlers(code_dir: Path) -> None:
    assert load("good_mod.handler")(b"", None) == "ok"
    assert load("pkg_x/inner.handler")(b"", None) == "inner"
    assert load("pkg_x.inner.handler")(b"", None) == "inner"


@pytest.mark.parametrize(("spec", "error_type"), [
    ("nomodule_here.handler", errors.IMPORT_MODULE),
    ("good_mod.missing", errors.HANDLER_NOT_FOUND),
    ("good_mod.not_callable", errors.HANDLER_NOT_FOUND),
    ("broken_syntax.handler", errors.SYNTAX),
    ("raises_on_import.handler", errors.IMPORT_MODULE),
    ("nodot", errors.MALFORMED_HANDLER),
    (".handler", errors.MALFORMED_HANDLER),
])
def test_loader_error_types(code_dir: Path, spec: str, error_type: str) -> None:
    with pytest.raises(UserCodeError) as info:
        load(spec)
    assert info.value.error_type == error_type
    meta = info.value.to_meta()
    assert set(meta) == {"errorType", "errorMessage", "stackTrace"}
    assert meta["errorMessage"]
