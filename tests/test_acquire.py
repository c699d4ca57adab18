"""Acquisition against a real HTTP server on 127.0.0.1 serving archives in GRID's own layout: resumption of a
cut transfer, servers that ignore Range, corrupt archives, checksums, a missing video archive, the full
``download-grid`` CLI, and the TCD-TIMIT local copy (missing, wrong layout, linked)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import subprocess
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import imageio_ffmpeg
import pytest
import yaml

from autalk.acquire.grid import acquire_speaker
from autalk.acquire.local import locate
from autalk.acquire.manifest import read_manifest
from autalk.acquire.transfer import download, part_path
from autalk.cli import main
from autalk.config import config_from_dict
from autalk.errors import ConfigError, DataError, DownloadError

SENTENCES = ["bbaf2n", "lgaz8p"]


# ----------------------------------------------------------------------------------------------- the server
class CorpusServer:
    """Serves ``files`` (URL path -> bytes) with Range support; paths in ``cut_once`` close the connection
    half-way through their first response, paths in ``cut_always`` on every response; paths in
    ``ignore_range`` answer every request with the whole file (200); paths in ``trickle`` send one byte every
    0.1 s; paths in ``unavailable`` answer 503."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_once: set[str] = set()
        self.cut_always: set[str] = set()
        self.ignore_range: set[str] = set()
        self.trickle: set[str] = set()
        self.unavailable: set[str] = set()
        self.requests: list[tuple[str, str | None, int]] = []  # path, Range header, status sent
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                data = server.files.get(self.path)
                if self.path in server.unavailable:
                    server.requests.append((self.path, rng, 503))
                    self.send_error(503)
                    return
                if data is None:
                    server.requests.append((self.path, rng, 404))
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if match and self.path not in server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        server.requests.append((self.path, rng, 416))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    server.requests.append((self.path, rng, 206))
                else:
                    self.send_response(200)
                    server.requests.append((self.path, rng, 200))
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.cut_always or self.path in server.cut_once:
                    server.cut_once.discard(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if self.path in server.trickle:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def hits(self, path: str) -> list[tuple[str | None, int]]:
        return [(rng, status) for p, rng, status in self.requests if p == path]


@pytest.fixture
def server():
    srv = CorpusServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join()


# ----------------------------------------------------------------------------------------------- GRID-like archives
@pytest.fixture(scope="module")
def mpg_bytes(tmp_path_factory) -> bytes:
    """A real 0.4 s MPEG-1 video with an MP2 audio track at 44.1 kHz, like GRID's normal-quality files."""
    out = tmp_path_factory.mktemp("media") / "clip.mpg"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=360x288:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-t", "0.4", "-c:v", "mpeg1video", "-c:a", "mp2", "-ac", "2", str(out)], check=True)
    return out.read_bytes()


def video_zip(speaker: str, mpg: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for sentence in SENTENCES:
            zf.writestr(f"{speaker}/{sentence}.mpg", mpg)
        zf.writestr(f"__MACOSX/{speaker}/._{SENTENCES[0]}.mpg", b"resource fork")
    return buf.getvalue()


def align_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for sentence in SENTENCES:
            text = "0 23750 sil\n23750 29500 bin\n29500 74500 now\n74500 75000 sil\n".encode()
            info = tarfile.TarInfo(f"align/{sentence}.align")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def grid_config(server: CorpusServer, speakers=("s1", "s2"), **download) -> dict:
    return {"datasets": {"grid": {
        "source": {"kind": "grid", "download": {
            "video_url": server.url + "/{speaker}/video/{speaker}.mpg_vcd.zip",
            "align_url": server.url + "/{speaker}/align/{speaker}.tar",
            "retries": 3, "timeout_s": 5, "backoff_s": 0.0, **download}},
        "speakers": list(speakers),
        "splits": {"train": list(speakers[:-1]), "test": [speakers[-1]]},
    }}}


def serve_speaker(server: CorpusServer, speaker: str, mpg: bytes) -> tuple[str, str]:
    video, align = f"/{speaker}/video/{speaker}.mpg_vcd.zip", f"/{speaker}/align/{speaker}.tar"
    server.files[video] = video_zip(speaker, mpg)
    server.files[align] = align_tar()
    return video, align


# ----------------------------------------------------------------------------------------------- transfer
def test_cut_transfer_is_resumed_with_range(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    server.cut_once.add("/a.bin")
    got = download(server.url + "/a.bin", tmp_path / "a.bin", retries=3, backoff_s=0)
    assert (tmp_path / "a.bin").read_bytes() == data and got.size == len(data)
    assert not part_path(tmp_path / "a.bin").exists()
    assert server.hits("/a.bin") == [(None, 200), (f"bytes={len(data) // 2}-", 206)]


def test_part_left_by_a_killed_run_is_continued(server, tmp_path):
    data = b"0123456789" * 10000
    server.files["/b.bin"] = data
    part_path(tmp_path / "b.bin").write_bytes(data[:31337])
    download(server.url + "/b.bin", tmp_path / "b.bin", retries=1)
    assert (tmp_path / "b.bin").read_bytes() == data
    assert server.hits("/b.bin") == [("bytes=31337-", 206)]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = b"abcdefgh" * 20000
    server.files["/c.bin"] = data
    server.cut_once.add("/c.bin")
    server.ignore_range.add("/c.bin")
    download(server.url + "/c.bin", tmp_path / "c.bin", retries=3, backoff_s=0)
    assert (tmp_path / "c.bin").read_bytes() == data
    assert server.hits("/c.bin") == [(None, 200), (f"bytes={len(data) // 2}-", 200)]


def test_complete_part_answered_416_is_accepted(server, tmp_path):
    data = b"x" * 5000
    server.files["/d.bin"] = data
    part_path(tmp_path / "d.bin").write_bytes(data)
    download(server.url + "/d.bin", tmp_path / "d.bin", retries=1)
    assert (tmp_path / "d.bin").read_bytes() == data and server.hits("/d.bin") == [("bytes=5000-", 416)]


def test_gives_up_after_retries_keeping_the_part(server, tmp_path):
    server.files["/e.bin"] = b"y" * 100000
    server.cut_always.add("/e.bin")
    with pytest.raises(DownloadError, match=r"giving up after 2 attempts.*connection closed"):
        download(server.url + "/e.bin", tmp_path / "e.bin", retries=2, backoff_s=0)
    assert not (tmp_path / "e.bin").exists()
    assert 0 < part_path(tmp_path / "e.bin").stat().st_size < 100000


def test_trickling_server_is_cut_naming_the_url(server, tmp_path):
    server.files["/slow.bin"] = b"z" * 1000
    server.trickle.add("/slow.bin")
    began = time.monotonic()
    with pytest.raises(DownloadError, match=r"/slow\.bin: .*slower than the minimum 100 bytes/s") as err:
        download(server.url + "/slow.bin", tmp_path / "slow.bin", retries=2, backoff_s=0, timeout_s=1,
                 min_rate_bytes_s=100)
    assert time.monotonic() - began < 10                      # two attempts of about timeout_s each
    assert "is kept and will be resumed" in str(err.value) and part_path(tmp_path / "slow.bin").stat().st_size > 0


def test_failure_without_a_part_does_not_promise_a_resume(server, tmp_path):
    server.unavailable.add("/g.bin")
    with pytest.raises(DownloadError, match="HTTP 503") as err:
        download(server.url + "/g.bin", tmp_path / "g.bin", retries=2, backoff_s=0)
    assert "no partial file was kept" in str(err.value) and "resumed" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_removes_the_download(server, tmp_path):
    server.files["/f.bin"] = b"payload"
    with pytest.raises(DownloadError, match="sha256"):
        download(server.url + "/f.bin", tmp_path / "f.bin", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------- one GRID talker
def test_corrupt_archive_leaves_nothing_that_looks_complete(server, tmp_path, mpg_bytes):
    video, _ = serve_speaker(server, "s1", mpg_bytes)
    good = server.files[video]
    server.files[video] = good[:40] + bytes(b ^ 0xFF for b in good[40:400]) + good[400:]
    ds = config_from_dict(grid_config(server)).dataset("grid")
    raw, flag = tmp_path / "raw", tmp_path / "raw" / "s1.acquired"
    with pytest.raises(DownloadError, match=r"video-s1\.mpg_vcd\.zip: corrupt.*removed"):
        acquire_speaker(ds, "s1", tmp_path / "downloads", raw, flag)
    assert not flag.exists() and not (raw / "s1").exists()
    assert not raw.exists() or list(raw.iterdir()) == []
    assert list((tmp_path / "downloads" / "s1").iterdir()) == []


def test_missing_video_archive_is_a_clear_error(server, tmp_path):
    ds = config_from_dict(grid_config(server)).dataset("grid")
    with pytest.raises(DownloadError, match=r"GRID speaker s2 has no video archive .*HTTP 404.*s21"):
        acquire_speaker(ds, "s2", tmp_path / "downloads", tmp_path / "raw", tmp_path / "raw" / "s2.acquired")
    assert not (tmp_path / "raw" / "s2.acquired").exists()


def test_download_grid_cli_end_to_end(server, tmp_path, mpg_bytes, capsys):
    video, align = serve_speaker(server, "s1", mpg_bytes)
    serve_speaker(server, "s2", mpg_bytes)
    server.cut_once.add(video)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(grid_config(server)))
    raw = tmp_path / "resources" / "grid" / "raw"
    for speaker in ("s1", "s2"):
        rc = main(["download-grid", "--config", str(config), "--dataset", "grid", "--speaker", speaker,
                   "--downloads", str(tmp_path / "resources" / "grid" / "downloads"), "--raw", str(raw),
                   "--flag", str(raw / f"{speaker}.acquired")])
        assert rc == 0
    assert [status for _, status in server.hits(video)] == [200, 206]

    flag = json.loads((raw / "s1.acquired").read_text())
    assert flag["counts"] == {"video": 2, "align": 2}
    expected = [f"video/{s}.mpg" for s in SENTENCES] + [f"align/{s}.align" for s in SENTENCES]
    assert flag["files"] == {f: (raw / "s1" / f).stat().st_size for f in expected}
    assert flag["archives"]["video"]["bytes"] == len(server.files[video])
    assert sorted(p.name for p in (raw / "s1" / "video").iterdir()) == [f"{s}.mpg" for s in SENTENCES]
    assert (raw / "s1" / "video" / "bbaf2n.mpg").read_bytes() == mpg_bytes
    assert (raw / "s1" / "align" / "bbaf2n.align").read_text().splitlines()[1] == "23750 29500 bin"
    assert sorted(p.name for p in raw.iterdir()) == ["s1", "s1.acquired", "s2", "s2.acquired"]

    # a rerun reuses the verified archives without asking the server again
    n_requests = len(server.requests)
    (raw / "s1.acquired").unlink()
    assert main(["download-grid", "--config", str(config), "--dataset", "grid", "--speaker", "s1",
                 "--downloads", str(tmp_path / "resources" / "grid" / "downloads"), "--raw", str(raw),
                 "--flag", str(raw / "s1.acquired")]) == 0
    assert len(server.requests) == n_requests and (raw / "s1.acquired").exists()

    # the downloaded talkers become the manifest: GRID's mpg carries 44.1 kHz audio, 25 fps, 360x288
    manifest = tmp_path / "resources" / "grid" / "manifest.parquet"
    assert main(["manifest", "--config", str(config), "--dataset", "grid", "--raw", str(raw),
                 "--output", str(manifest), "--threads", "2"]) == 0
    table = read_manifest(manifest)
    assert table["utt_id"].tolist() == [f"{sp}_{s}" for sp in ("s1", "s2") for s in SENTENCES]
    assert table["speaker"].tolist() == ["s1", "s1", "s2", "s2"] and "split" not in table  # splits: config only
    assert set(table["sample_rate"]) == {44100} and set(table["fps"]) == {25.0}
    assert set(table["width"]) == {360} and set(table["height"]) == {288}
    assert table["audio_path"].isna().all() and table["align_path"].notna().all()
    assert (table["probe_error"] == "").all()

    # a corrupt archive through the CLI: exit status 2, a message naming the file, no traceback
    server.files["/s3/video/s3.mpg_vcd.zip"] = b"PK\x03\x04 this is not a zip archive at all"
    server.files["/s3/align/s3.tar"] = align_tar()
    config.write_text(yaml.safe_dump(grid_config(server, speakers=("s1", "s3"))))
    capsys.readouterr()
    rc = main(["download-grid", "--config", str(config), "--dataset", "grid", "--speaker", "s3",
               "--downloads", str(tmp_path / "dl"), "--raw", str(raw), "--flag", str(raw / "s3.acquired")])
    err = capsys.readouterr().err
    assert rc == 2 and "video-s3.mpg_vcd.zip" in err and "Traceback" not in err
    assert not (raw / "s3").exists() and not (raw / "s3.acquired").exists()


def test_download_grid_rejects_unknown_speaker(server, tmp_path):
    ds = config_from_dict(grid_config(server)).dataset("grid")
    with pytest.raises(ConfigError, match="s9"):
        acquire_speaker(ds, "s9", tmp_path, tmp_path, tmp_path / "f")


# ----------------------------------------------------------------------------------------------- TCD-TIMIT
def tcd_config(local_path) -> dict:
    return {"datasets": {"tcd_timit": {
        "source": {"kind": "local", "local_path": local_path, "registration_url": "https://sigmedia.tcd.ie/"},
        "speakers": ["01M", "Lipspkr1"], "splits": {"train": ["01M"], "test": ["Lipspkr1"]}}}}


def test_missing_tcd_timit_path_says_where_to_get_it_and_what_to_set(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tcd_config(None)))
    rc = main(["locate-local", "--config", str(config), "--dataset", "tcd_timit", "--raw", str(tmp_path / "raw"),
               "--flag", str(tmp_path / "raw" / "local.complete")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "https://sigmedia.tcd.ie/" in err and "datasets.tcd_timit.source.local_path" in err
    assert "Traceback" not in err and not (tmp_path / "raw").exists()


def test_tcd_timit_wrong_layout_names_every_missing_speaker(tmp_path):
    (tmp_path / "corpus" / "volunteers" / "01M" / "Clips" / "straightcam").mkdir(parents=True)
    ds = config_from_dict(tcd_config(str(tmp_path / "corpus"))).dataset("tcd_timit")
    with pytest.raises(DataError, match=r"(?s)01M: no \.mp4 clips.*Lipspkr1: no folder"):
        locate(ds, tmp_path / "raw", tmp_path / "raw" / "local.complete")
    assert not (tmp_path / "raw" / "local.complete").exists()
    ds = config_from_dict(tcd_config(str(tmp_path / "nowhere"))).dataset("tcd_timit")
    with pytest.raises(DataError, match="nowhere is not a folder.*local_path"):
        locate(ds, tmp_path / "raw", tmp_path / "raw" / "local.complete")


def test_tcd_timit_local_copy_is_linked_into_the_raw_layout(tmp_path):
    corpus = tmp_path / "corpus"
    for group, speaker in (("volunteers", "01M"), ("lipspeakers", "Lipspkr1")):
        clips = corpus / group / speaker / "Clips" / "straightcam"
        clips.mkdir(parents=True)
        for sentence in ("sa1", "si1392"):
            (clips / f"{sentence}.mp4").write_bytes(b"video " + speaker.encode())
        (corpus / group / speaker / "Clips" / "30degcam").mkdir()
    (corpus / "volunteers" / "01M" / "Clips" / "straightcam" / "sa1.wav").write_bytes(b"wav")
    ds = config_from_dict(tcd_config(str(corpus))).dataset("tcd_timit")
    raw = tmp_path / "raw"
    locate(ds, raw, raw / "local.complete")
    flag = json.loads((raw / "local.complete").read_text())
    assert flag["speakers"]["01M"]["videos"] == 2 and flag["speakers"]["01M"]["wavs"] == 1
    assert flag["speakers"]["Lipspkr1"]["wavs"] == 0
    link = raw / "Lipspkr1" / "video" / "si1392.mp4"
    assert link.is_symlink() and link.read_bytes() == b"video Lipspkr1"
    assert (raw / "01M" / "audio" / "sa1.wav").read_bytes() == b"wav"
    assert not (raw / "Lipspkr1" / "audio").exists()


def test_tcd_timit_speakers_are_found_at_local_path_and_split_by_the_documented_rule(tmp_path):
    corpus = tmp_path / "corpus"
    volunteers = [f"{i:02d}{'MF'[i % 2]}" for i in range(1, 22)]
    for group, speaker in [("volunteers", v) for v in volunteers] + [("lipspeakers", "Lipspkr1")]:
        (corpus / group / speaker / "Clips" / "straightcam").mkdir(parents=True)
    (corpus / "volunteers" / "notes").mkdir()                       # not a speaker: no Clips/straightcam
    raw = {"datasets": {"tcd_timit": {"source": {"kind": "local", "local_path": str(corpus)},
                                      "speakers": [], "splits": {}}}}
    ds = config_from_dict(raw).dataset("tcd_timit")
    assert ds.speakers == sorted(volunteers)                         # every volunteer, no lipspeaker, no invented ID
    splits = ds.splits
    assert sorted(splits.train + splits.val + splits.test) == sorted(volunteers)
    assert (len(splits.test), len(splits.val), len(splits.train)) == (2, 2, 17)
    by_hash = sorted(volunteers, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    assert splits.test == sorted(by_hash[:2]) and splits.val == sorted(by_hash[2:4])
    raw["datasets"]["tcd_timit"]["source"]["lipspeakers"] = True
    assert "Lipspkr1" in config_from_dict(raw).dataset("tcd_timit").speakers
    # without local_path the config still loads (a run of another dataset is not blocked), with no speakers
    raw["datasets"]["tcd_timit"]["source"]["local_path"] = None
    assert config_from_dict(raw).dataset("tcd_timit").speakers == []
    # a path with no speaker folders is a clear error naming it
    raw["datasets"]["tcd_timit"]["source"]["local_path"] = str(tmp_path / "empty")
    with pytest.raises(ConfigError, match="empty: no speaker folders"):
        config_from_dict(raw)
