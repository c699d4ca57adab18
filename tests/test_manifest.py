"""The manifest, built from small real videos and wavs in the raw layout: probed properties, unreadable files
kept as rows with a reason, the TCD-TIMIT linked layout, and the reader's errors."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile

from autalk.acquire.local import locate
from autalk.acquire.manifest import MANIFEST_COLUMNS, build_manifest, find_utterances, read_manifest, write_manifest
from autalk.config import config_from_dict
from autalk.errors import DataError


def write_mp4(path: Path, frames: int = 7, size=(64, 48)) -> None:
    """A silent mp4 (no audio track) written by OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()


def write_mpg(path: Path) -> None:
    """GRID-like: MPEG-1 360x288 at 25 fps, 0.4 s, with a 44.1 kHz MP2 track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=360x288:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-t", "0.4", "-c:v", "mpeg1video", "-c:a", "mp2", str(path)], check=True)


def write_wav(path: Path, seconds: float = 0.28, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), rate)


def dataset(speakers=("a", "b"), **source):
    return config_from_dict({"datasets": {"demo": {
        "source": {"kind": "synthetic", **source}, "speakers": list(speakers),
        "splits": {"train": list(speakers[:-1]), "test": [speakers[-1]]}}}}).dataset("demo")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_mpg(raw / "a" / "video" / "u1.mpg")
    (raw / "a" / "align").mkdir(parents=True)
    (raw / "a" / "align" / "u1.align").write_text("0 10000 sil\n10000 10000 bin\n")
    write_mp4(raw / "a" / "video" / "u2.mp4")
    write_wav(raw / "a" / "audio" / "u2.wav")
    (raw / "b" / "video").mkdir(parents=True)
    (raw / "b" / "video" / "u3.mp4").write_bytes(b"\x00not a video" * 50)
    write_mp4(raw / "b" / "video" / "u4.mp4")
    write_wav(raw / "b" / "audio" / "u5.wav")  # no video: ignored, with a warning
    write_mp4(raw / "b" / "video" / "u6.mp4")
    (raw / "b" / "audio" / "u6.wav").write_bytes(b"RIFF broken")
    (raw / "ground_truth").mkdir()  # not a speaker: never read
    return raw


def test_manifest_probes_every_utterance_and_keeps_unreadable_ones(raw, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        table = build_manifest(dataset(), raw, threads=2)
    assert "u5.wav" in caplog.text
    out = tmp_path / "manifest.parquet"
    write_manifest(table, out)
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.parquet"]
    m = read_manifest(out).set_index("utt_id")
    assert list(m.index) == ["a_u1", "a_u2", "b_u3", "b_u4", "b_u6"]
    assert m["speaker"].tolist() == ["a", "a", "b", "b", "b"] and "split" not in m.columns   # splits: config only
    assert m.loc["a_u1", "sentence"] == "u1" and m.loc["a_u1", "speaker"] == "a"

    u1 = m.loc["a_u1"]  # GRID-like: audio from the video's own track, with an alignment
    assert (u1.fps, u1.n_frames, u1.width, u1.height, u1.sample_rate) == (25.0, 10, 360, 288, 44100)
    assert u1.duration_s == pytest.approx(0.4) and pd.isna(u1.audio_path) and u1.probe_error == ""
    assert (u1.video_path == str(raw / "a" / "video" / "u1.mpg")
            and u1.align_path == str(raw / "a" / "align" / "u1.align"))

    u2 = m.loc["a_u2"]  # demo-like: mp4 + 16 kHz wav
    assert (u2.n_frames, u2.width, u2.height, u2.sample_rate) == (7, 64, 48, 16000)
    assert u2.audio_path == str(raw / "a" / "audio" / "u2.wav") and pd.isna(u2.align_path)
    assert u2.duration_s == pytest.approx(0.28)

    u3 = m.loc["b_u3"]  # garbage video: a row with the reason, for QC to reject
    assert u3.n_frames == 0 and u3.sample_rate == 0 and u3.duration_s == 0
    assert "u3.mp4" in u3.probe_error and "cannot be opened" in u3.probe_error and "audio" not in u3.probe_error
    u4 = m.loc["b_u4"]  # readable video without any audio
    assert u4.n_frames == 7 and u4.sample_rate == 0 and "no audio track" in u4.probe_error
    u6 = m.loc["b_u6"]  # broken wav
    assert u6.n_frames == 7 and u6.sample_rate == 0 and "u6.wav is unreadable" in u6.probe_error

    schema = pq.read_schema(out)
    assert schema.names == MANIFEST_COLUMNS
    assert schema.field("align_path").type == pa.string() and schema.field("n_frames").type == pa.int64()


def test_all_null_columns_keep_their_type(raw, tmp_path):
    table = build_manifest(dataset(speakers=("b", "a")), raw).query("speaker == 'b'")
    write_manifest(table, tmp_path / "m.parquet")
    schema = pq.read_schema(tmp_path / "m.parquet")
    assert table["align_path"].isna().all() and schema.field("align_path").type == pa.string()


def test_layout_errors_name_the_folder(raw, tmp_path):
    with pytest.raises(DataError, match=r"c/video is missing.*speaker c"):
        find_utterances(raw, ["a", "c"])
    write_mp4(tmp_path / "d" / "video" / "x.mp4")
    write_mp4(tmp_path / "d" / "video" / "x.mpg")
    with pytest.raises(DataError, match=r"d/video: several videos per sentence \['x'\]"):
        find_utterances(tmp_path, ["d"])
    (tmp_path / "e" / "video").mkdir(parents=True)
    with pytest.raises(DataError, match=r"e/video has no \.mpg or \.mp4 videos"):
        find_utterances(tmp_path, ["e"])


def test_tcd_timit_layout_through_its_links(tmp_path):
    corpus = tmp_path / "TCDTIMIT"
    clips = corpus / "volunteers" / "01M" / "Clips" / "straightcam"
    write_mp4(clips / "sa1.mp4", frames=5, size=(96, 64))
    write_wav(clips / "sa1.wav", seconds=0.2)
    write_mp4(clips / "sx5.mp4", frames=4, size=(96, 64))
    write_mp4(corpus / "lipspeakers" / "Lipspkr1" / "Clips" / "straightcam" / "sa2.mp4", frames=6)
    ds = config_from_dict({"datasets": {"tcd_timit": {
        "source": {"kind": "local", "local_path": str(corpus)}, "speakers": ["01M", "Lipspkr1"],
        "splits": {"train": ["01M"], "test": ["Lipspkr1"]}}}}).dataset("tcd_timit")
    raw = tmp_path / "raw"
    locate(ds, raw, raw / "local.complete")
    (clips / "sx5.mp4").unlink()  # the local copy changed after it was located: a row with the reason
    m = build_manifest(ds, raw).set_index("utt_id")
    assert list(m.index) == ["01M_sa1", "01M_sx5", "Lipspkr1_sa2"]
    assert (m.loc["01M_sa1", "n_frames"], m.loc["01M_sa1", "width"], m.loc["01M_sa1", "sample_rate"]) == (5, 96, 16000)
    assert m.loc["01M_sa1", "video_path"] == str(raw / "01M" / "video" / "sa1.mp4")
    assert m.loc["01M_sx5", "n_frames"] == 0 and "sx5.mp4 is missing" in m.loc["01M_sx5", "probe_error"]
    assert m.loc["Lipspkr1_sa2", "speaker"] == "Lipspkr1" and m.loc["Lipspkr1_sa2", "n_frames"] == 6


def test_read_manifest_errors_name_the_file(raw, tmp_path):
    with pytest.raises(DataError, match="nope.parquet: manifest not found"):
        read_manifest(tmp_path / "nope.parquet")
    (tmp_path / "text.parquet").write_text("utt_id,speaker\n")
    with pytest.raises(DataError, match="text.parquet: not a readable parquet"):
        read_manifest(tmp_path / "text.parquet")
    table = build_manifest(dataset(), raw)
    table.drop(columns=["fps", "sample_rate"]).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(DataError, match=r"short.parquet: manifest lacks column\(s\) \['fps', 'sample_rate'\]"):
        read_manifest(tmp_path / "short.parquet")
    write_manifest(pd.concat([table, table.head(1)]), tmp_path / "dup.parquet")
    with pytest.raises(DataError, match=r"dup.parquet: utt_id not unique: \['a_u1'\]"):
        read_manifest(tmp_path / "dup.parquet")
