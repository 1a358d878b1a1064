"""The recording the fake serves for ``GET /v1/calls/recording?id=``: a short WAV it makes."""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000  # samples per second, as telephony records
SECONDS = 0.5
TONE = 440.0  # Hz


def wav() -> bytes:
    """Half a second of a quiet 440 Hz tone: 16-bit mono PCM at 8 kHz, in a WAV file."""
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * TONE * n / RATE)))
        for n in range(int(RATE * SECONDS))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(frames)
    return out.getvalue()
