"""The MPEG audio track of an MPEG program stream (GRID's ``.mpg``: MPEG-1 video with MPEG-1 Layer II audio),
decoded in this process instead of by an ffmpeg child.

An ffmpeg child costs ~25 ms of CPU a GRID clip, half of it starting its 172 MB static binary, and competes
with the face alignment for the cores (benchmarks/README.md). Here the program stream is demultiplexed in
Python, the Layer II stream decoded by libsndfile (mpg123, through ``soundfile``), and the samples downmixed
and resampled as ffmpeg does (``audio.ffmpeg_mono``, ``audio.ffmpeg_resample``), so the result equals
ffmpeg's decode within its decoders' last-bit differences (``tests/test_preprocess.py``).

Only what is checked to decode exactly as ffmpeg would is taken here: a program stream whose first audio
stream is Layer II (or Layer I), mono or stereo, whose frames follow one another without a gap, a change of
format or a broken header, and which libsndfile decodes to exactly the frames' sample count. Anything else
(another container, Layer III with its encoder delay, a private stream such as a DVD's AC-3, a damaged stream
that ffmpeg decodes with errors to report) returns None, and the caller falls back to ffmpeg.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

log = logging.getLogger(__name__)

PACK_START = b"\x00\x00\x01\xba"
MAX_BYTES = 64 << 20            # larger files are left to ffmpeg rather than read whole into memory
AUDIO_IDS = range(0xC0, 0xE0)   # MPEG audio stream ids of a program stream
PRIVATE_STREAM_1 = 0xBD         # AC-3, DTS, LPCM (DVD): audio this module does not decode
# (version bits -> sample rates by index, Layer II bitrates in kbit/s by index) per ISO 11172-3 / 13818-3.
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000)}
_LAYER1_KBPS = {3: (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
                2: (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256)}
_LAYER2_KBPS = {3: (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
                2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}


@dataclass(frozen=True)
class FrameChain:
    """What the frame headers of an MPEG audio elementary stream say it decodes to."""

    frames: int
    sample_rate: int
    channels: int
    samples_per_frame: int


def program_stream_audio(data: bytes) -> bytes | None:
    """The payload of the first MPEG audio stream of a program stream (MPEG-1 or MPEG-2 packs), in order; None
    if ``data`` is no program stream, has no MPEG audio stream, or carries a private stream (whose audio
    ffmpeg might count as the first audio track)."""
    if not data.startswith(PACK_START):
        return None
    payload: list[bytes] = []
    stream_id = None
    i, end_of_data = 0, len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 4 > end_of_data:
            break
        code = data[i + 3]
        if code == 0xBA:                                   # pack header: MPEG-2 (14 bytes + stuffing) or MPEG-1
            if i + 14 > end_of_data:
                break
            i += 14 + (data[i + 13] & 7) if data[i + 4] >> 6 == 1 else 12
            continue
        if code < 0xB9:                                    # not a system start code: resynchronise
            i += 3
            continue
        if code == 0xB9:                                   # program end
            i += 4
            continue
        if i + 6 > end_of_data:
            break
        start = i + 6
        end = start + int.from_bytes(data[i + 4:i + 6], "big")
        if code == PRIVATE_STREAM_1:
            return None
        if code in AUDIO_IDS and stream_id in (None, code) and start < end_of_data:
            stream_id = code
            payload.append(data[_pes_payload_start(data, start):end])
        i = end
    return b"".join(payload) if payload else None


def _pes_payload_start(data: bytes, j: int) -> int:
    """Offset of a PES packet's payload, its header starting at ``j`` (MPEG-2 or MPEG-1 syntax)."""
    if data[j] >> 6 == 2:                                  # MPEG-2: flags, flags, header length
        return j + 3 + data[j + 2]
    while j < len(data) and data[j] == 0xFF:               # MPEG-1: stuffing, STD buffer, PTS / PTS + DTS
        j += 1
    if j < len(data) and data[j] >> 6 == 1:
        j += 2
    if j >= len(data):
        return j
    marker = data[j] >> 4
    return j + (5 if marker == 2 else 10 if marker == 3 else 1)


def frame_chain(stream: bytes) -> FrameChain | None:
    """Walk the Layer I/II frames of an elementary stream from its first byte; None unless every frame
    header is valid, the format never changes, and the last frame ends exactly where the stream does."""
    frames, fmt, pos = 0, None, 0
    while pos < len(stream):
        if pos + 4 > len(stream):
            return None
        header = int.from_bytes(stream[pos:pos + 4], "big")
        version, layer = header >> 19 & 3, header >> 17 & 3
        bitrate_index, rate_index = header >> 12 & 15, header >> 10 & 3
        if header >> 21 != 0x7FF or version not in _RATES or layer not in (2, 3) or not 0 < bitrate_index < 15 \
                or rate_index == 3:
            return None
        rate = _RATES[version][rate_index]
        padding = header >> 9 & 1
        if layer == 3:                                     # Layer I: 384 samples, 4-byte slots
            size = (12 * _LAYER1_KBPS[version][bitrate_index] * 1000 // rate + padding) * 4
            per_frame = 384
        else:                                              # Layer II: 1152 samples
            size = 144 * _LAYER2_KBPS[version][bitrate_index] * 1000 // rate + padding
            per_frame = 1152
        this = (rate, 1 if header >> 6 & 3 == 3 else 2, per_frame)
        if fmt not in (None, this):
            return None
        fmt = this
        frames += 1
        pos += size
    if fmt is None or pos != len(stream):
        return None
    return FrameChain(frames, *fmt)


def decode_program_stream(path: Path) -> tuple[np.ndarray, int] | None:
    """(int16 samples (n, channels), sample rate) of the first audio stream of an MPEG program stream, as
    ffmpeg's decoder gives them to within its last bit; None where this module does not decode the file
    (module docstring)."""
    if path.stat().st_size > MAX_BYTES:
        return None
    with path.open("rb") as f:
        if f.read(len(PACK_START)) != PACK_START:
            return None
        data = PACK_START + f.read()
    stream = program_stream_audio(data)
    chain = frame_chain(stream) if stream else None
    if chain is None:
        return None
    try:
        samples, rate = soundfile.read(io.BytesIO(stream), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as err:
        log.debug("%s: libsndfile cannot decode the audio (%s); ffmpeg decodes it", path, err)
        return None
    if samples.shape != (chain.frames * chain.samples_per_frame, chain.channels) or rate != chain.sample_rate:
        log.debug("%s: libsndfile decoded %s samples at %d Hz, the frames hold %d x %d at %d Hz; ffmpeg decodes it",
                  path, samples.shape, rate, chain.frames * chain.samples_per_frame, chain.channels,
                  chain.sample_rate)
        return None
    return samples, rate
