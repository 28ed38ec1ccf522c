"""Progress bars: items, rate and time left on a terminal; nothing at all in a log or CI."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import sys
import termios

from recipes.shared.progress import progress_bar, progress_iter


def test_silent_when_stderr_is_not_a_terminal(capsys):
    assert list(progress_iter(list(range(50)), "quiet")) == list(range(50))
    with progress_bar(3, "also quiet") as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_on_a_terminal_it_shows_count_rate_and_time_left(monkeypatch):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size
    tty = io.TextIOWrapper(io.FileIO(slave, "w"), write_through=True)
    monkeypatch.setattr(sys, "stderr", tty)
    try:
        with progress_bar(4, "scoring", unit="item", mininterval=0) as bar:
            for _ in range(4):
                bar.update(1)
        shown = b""
        os.set_blocking(master, False)
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        tty.close()
        os.close(master)
    text = shown.decode("utf-8", "replace")
    assert "scoring" in text and "4/4" in text
    assert "item/s" in text and "<" in text  # rate, then elapsed<left
