"""Decode one video in a child process and stream it to the parent: a decoder crash kills only us.

Run as a script by path from :mod:`colorcli.video.decoder`, never imported into colorcli:
OpenCV's FFmpeg readers can abort the whole process on a hostile file (an uncompressed AVI
made OpenCV 4.x die in ``malloc_consolidate``), and no Python ``except`` can catch that.
By path, not ``-m colorcli.video...``, so no package ``__init__`` (torch and all) is
loaded: it imports nothing but the standard library, numpy and cv2, and starts in well
under a second.

Usage: ``_decoder_child.py info|frames PATH``. On stdout: one JSON line, the capture's
properties (``width``, ``height``, ``fps``, ``frame_count``, ``codec``) or ``{"error": …}``
when OpenCV cannot open the file; in ``frames`` mode then, per frame, a ``<III`` header
(height, width, 3) and the frame's bytes, uint8 BGR; a header of zeros ends the stream.
"""

from __future__ import annotations

import json
import math
import os
import signal
import struct
import sys

END = struct.pack("<III", 0, 0, 0)


def _fourcc_name(code: float) -> str:
    value = int(code) if math.isfinite(code) and code > 0 else 0
    name = "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))
    return name.strip("\0 ") if name.isprintable() else ""


def main(mode: str, path: str) -> int:
    """Write ``path``'s properties (and frames, in ``frames`` mode) to stdout."""
    # the parent reports problems itself; FFmpeg's log would garble its progress display
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    out = sys.stdout.buffer
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        out.write(json.dumps({"error": "cannot open"}).encode() + b"\n")
        return 0

    def number(prop: int) -> float:
        value = float(capture.get(prop))
        return value if math.isfinite(value) and value > 0 else 0.0

    info = {
        "width": int(number(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(number(cv2.CAP_PROP_FRAME_HEIGHT)),
        "fps": number(cv2.CAP_PROP_FPS),
        "frame_count": int(number(cv2.CAP_PROP_FRAME_COUNT)),
        "codec": _fourcc_name(capture.get(cv2.CAP_PROP_FOURCC)),
    }
    out.write(json.dumps(info).encode() + b"\n")
    out.flush()
    if mode == "frames":
        while True:
            ok, frame = capture.read()
            if not ok or frame is None or frame.dtype != "uint8":
                break
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            elif frame.shape[2] == 4:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
            out.write(struct.pack("<III", frame.shape[0], frame.shape[1], 3))
            out.write(frame.tobytes() if not frame.flags.c_contiguous else frame.data)
        out.write(END)
    out.flush()
    capture.release()
    return 0


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: die quietly, the parent reports it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        sys.exit(main(sys.argv[-2], sys.argv[-1]))
    except BrokenPipeError:  # the parent stopped reading (it failed the file or stopped)
        os._exit(0)
