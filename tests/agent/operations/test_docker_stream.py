"""Docker's multiplexed stream taken apart, however the chunks are cut."""

from __future__ import annotations

import struct

import pytest

from agent.operations.docker_stream import STDERR, STDOUT, Demultiplexer, StreamError


def frame(stream: int, payload: bytes) -> bytes:
    # Written out from the Engine API reference, not from the module under test.
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(payload)) + payload


STREAM = frame(1, b"hello ") + frame(2, b"oops\n") + frame(0, b"echo") + frame(1, b"world\n")


@pytest.mark.parametrize("size", [1, 3, 8, 9, len(STREAM)])
def test_frames_cut_anywhere_come_out_whole(size: int) -> None:
    output = Demultiplexer(limit=1024)
    for start in range(0, len(STREAM), size):
        output.feed(STREAM[start : start + size])
    output.close()
    assert output.text(STDOUT) == "hello echoworld\n"  # stdin (0) is written on stdout
    assert output.text(STDERR) == "oops\n"
    assert output.truncated == {STDOUT: False, STDERR: False}


def test_each_stream_keeps_its_first_limit_bytes() -> None:
    output = Demultiplexer(limit=4)
    output.feed(frame(1, b"abc") + frame(1, b"defg") + frame(2, b"xy"))
    assert (output.text(STDOUT), output.truncated[STDOUT]) == ("abcd", True)
    assert (output.text(STDERR), output.truncated[STDERR]) == ("xy", False)


def test_an_empty_frame_and_bad_utf8_are_fine() -> None:
    output = Demultiplexer(limit=16)
    output.feed(frame(1, b"") + frame(1, b"\xff!"))
    assert output.text(STDOUT) == "\ufffd!"


def test_a_stream_that_ends_inside_a_frame_is_an_error() -> None:
    output = Demultiplexer(limit=16)
    output.feed(frame(1, b"hello")[:-2])
    with pytest.raises(StreamError, match="ended inside a frame"):
        output.close()


def test_a_tty_stream_is_not_mistaken_for_frames() -> None:
    with pytest.raises(StreamError, match="unknown stream type 104"):
        Demultiplexer(limit=16).feed(b"hello world, raw tty output")
