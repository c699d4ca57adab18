"""Outputs written through ``autalk.atomic``: complete or absent, readable as the umask says, and no leftovers
of a killed run after the next run; pool workers of a killed job end with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

import autalk
from autalk.atomic import atomic_dir, atomic_file, current_umask
from autalk.demo import media


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    with atomic_file(tmp_path / "table.csv") as tmp:
        tmp.write_text("a\n")
    with atomic_dir(tmp_path / "clips") as tmp:
        (tmp / "x.npz").write_bytes(b"x")
    assert (tmp_path / "table.csv").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "clips").stat().st_mode & 0o777 == 0o777 & ~mask


KILLED_WRITER = """
import sys, time
from pathlib import Path
from autalk.atomic import atomic_dir, atomic_file
out = Path(sys.argv[1])
with atomic_dir(out / "clips") as tmp, atomic_file(out / "qc.parquet") as tmp_file:
    (tmp / "a.npz").write_bytes(b"x" * 1000)
    tmp_file.write_bytes(b"partial")
    print("ready", flush=True)
    time.sleep(60)
"""


def test_next_run_removes_what_a_killed_run_left(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    (tmp_path / "clips.other").mkdir()                          # a neighbour whose name starts alike stays
    (tmp_path / ".clips.other.abcdefgh.tmp").mkdir()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert len(leftovers) == 3 and not (tmp_path / "clips").exists() and not (tmp_path / "qc.parquet").exists()
    with atomic_dir(tmp_path / "clips") as tmp:
        (tmp / "b.npz").write_bytes(b"y")
    with atomic_file(tmp_path / "qc.parquet") as tmp:
        tmp.write_bytes(b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clips.other.abcdefgh.tmp", "clips", "clips.other",
                                                          "qc.parquet"]
    assert [p.name for p in (tmp_path / "clips").iterdir()] == ["b.npz"]


# Modules that rename files themselves, and why they cannot write through autalk.atomic.
OWN_RENAMES = {
    "acquire/transfer.py": "a broken download stays as <file>.part, which the next run resumes",
    "aus/pyfeat_detect.py": "runs in py-feat's own environment, where autalk is not installed",
    "train/scaffold.py": "sets a checkpoint of other settings aside as <file>.stale: a move, not a write",
}
# A file's rename or replace; not a DataFrame's column rename, nor a str's or a dataclass's replace.
RENAME = re.compile(r"os\.replace\(|\.rename\((?!columns=)|(?<!dataclasses)\.replace\((?![\"'])")


def test_every_complete_or_absent_write_goes_through_atomic():
    package = Path(autalk.__file__).parent
    renaming = {str(path.relative_to(package)) for path in package.rglob("*.py")
                if path.name != "atomic.py" and RENAME.search(path.read_text())}
    assert renaming == set(OWN_RENAMES)


def test_demo_media_writers_leave_a_whole_file_or_none(tmp_path):
    """Their temporary names have no media suffix: the format is named, and the file is what the suffix says."""
    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)
    media.write_video(tmp_path / "v.mp4", frames, 25, 18)
    media.write_wav(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    media.write_align(tmp_path / "a.align", [(0.0, 0.1, "sil"), (0.1, 0.5, "bin")])
    media.mux(tmp_path / "m.mp4", [tmp_path / "v.mp4"], [tmp_path / "a.wav"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.align", "a.wav", "m.mp4", "v.mp4"]
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 48
    assert soundfile.info(str(tmp_path / "a.wav")).format == "WAV"
    assert media.read_align(tmp_path / "a.align") == [(0.0, 0.1, "sil"), (0.1, 0.5, "bin")]
    with pytest.raises(RuntimeError, match="ffmpeg failed writing .*bad.mp4"):
        media.write_video(tmp_path / "bad.mp4", frames[:, :, :47], 25, 18)     # yuv420p needs an even width
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.align", "a.wav", "m.mp4", "v.mp4"]


KILLED_POOL = """
import os, time
from autalk.workers import spawn_pool

def pid(_):
    return os.getpid()

def busy(_):
    time.sleep(120)

if __name__ == "__main__":
    with spawn_pool(2) as pool:
        print(" ".join(str(p) for p in set(pool.map(pid, range(8), chunksize=1))), flush=True)
        pool.map(busy, range(2))
"""


def test_pool_workers_die_with_their_killed_parent(tmp_path):
    script = tmp_path / "pool_job.py"
    script.write_text(KILLED_POOL)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]
    assert not alive, f"pool workers {alive} outlived their parent"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"
