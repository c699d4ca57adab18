"""Every demo speaker is a different person, measured with dlib's real face-recognition network: the default
and the test suite's splits hold the identity rule, a split that puts one person on both sides is refused
naming the pair, and the packaged GRID faces are what ``autalk demo-grid-faces`` makes from the real clips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from autalk.cli import main as cli_main
from autalk.config import Splits, load_config
from autalk.demo.faces import GRID_PHOTOS
from autalk.demo.grid_faces import eye_openness
from autalk.demo.recognition import SAME_PERSON_DISTANCE, check_split
from autalk.demo.synthesize import plan
from autalk.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "autalk" / "assets"
CLIPS = sorted((REPO / "tests" / "data" / "grid").glob("*.mpg"))


def _held_out_pairs(splits: Splits) -> list[tuple[str, str]]:
    return ([(a, b) for a in splits.train for b in splits.val + splits.test]
            + [(a, b) for a in splits.val for b in splits.test])


@pytest.mark.parametrize("config", ["config.yaml", "tests/tiny_demo.yaml"])
def test_demo_split_is_different_people(config, tmp_path):
    ds = load_config(REPO / config).dataset("demo")
    _, distances = plan(ds.source.synth, ds.speakers, tmp_path, ds.splits)  # raises if the rule is broken
    print(f"\n{config}: face-recognition distances\n{distances.round(2)}")
    assert list(distances.index) == ds.speakers
    for a, b in _held_out_pairs(ds.splits):
        assert distances.loc[a, b] >= SAME_PERSON_DISTANCE, (a, b)
    # Not only across the split: no two speakers of these corpora are one person.
    off_diagonal = distances.to_numpy()[~np.eye(len(ds.speakers), dtype=bool)]
    assert off_diagonal.min() >= SAME_PERSON_DISTANCE


def test_same_person_on_both_sides_is_refused(tmp_path):
    """Four speakers from two photos: d3 is a variant of d1 (the same person) and d4 of d2."""
    synth = dataclasses.replace(load_config(REPO / "config.yaml").dataset("demo").source.synth,
                                photos=["astronaut", "grace_hopper"])
    speakers = ["d1", "d2", "d3", "d4"]
    _, distances = plan(synth, speakers, tmp_path, Splits(train=["d1", "d3"], val=["d2", "d4"], test=[]))
    assert distances.loc["d1", "d3"] < SAME_PERSON_DISTANCE and distances.loc["d2", "d4"] < SAME_PERSON_DISTANCE
    assert distances.loc["d1", "d2"] >= SAME_PERSON_DISTANCE
    faces = {"d1": "astronaut", "d2": "grace_hopper", "d3": "astronaut_variant1", "d4": "grace_hopper_variant1"}
    with pytest.raises(ConfigError, match=r"d3 \(test, face astronaut_variant1\) and d1 \(train, face astronaut\) "
                                          r"are the same person by dlib's face-recognition network \(descriptor "
                                          r"distance 0\.\d\d < 0\.6\)"):
        check_split(distances, Splits(train=["d1", "d2"], val=[], test=["d3"]), faces)
    with pytest.raises(ConfigError, match=r"d4 \(test, face grace_hopper_variant1\) and d2 \(val"):
        check_split(distances, Splits(train=["d1"], val=["d2"], test=["d4"]), faces)


def test_cli_refuses_a_same_person_split_without_traceback(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  demo:\n    source: {kind: synthetic, synth: {photos: [grace_hopper]}}\n"
                      "    speakers: [d1, d2]\n    splits: {train: [d1], test: [d2]}\n")
    code = cli_main(["synth", "--config", str(config), "--dataset", "demo", "--out", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert code == 2 and "d2 (test, face grace_hopper_variant1) and d1 (train" in err and "Traceback" not in err
    assert not (tmp_path / "raw" / "synth.complete").exists()


def test_packaged_grid_faces_are_made_again_from_the_clips(tmp_path):
    assert [f"grid_{c.stem}" for c in CLIPS] == list(GRID_PHOTOS)
    assert cli_main(["demo-grid-faces", *map(str, CLIPS), "--out", str(tmp_path)]) == 0
    for name in GRID_PHOTOS:
        packaged = cv2.imread(str(ASSETS / f"{name}.jpg"))
        again = cv2.imread(str(tmp_path / f"{name}.jpg"))
        assert again.shape == packaged.shape == (288, 360, 3)
        assert np.abs(again.astype(int) - packaged.astype(int)).mean() < 0.5, name


def test_eye_openness_tells_open_from_closed():
    eye = np.array([[0, 0], [1, -0.5], [2, -0.5], [3, 0], [2, 0.5], [1, 0.5]], float)
    points = np.zeros((68, 2))
    points[36:42], points[42:48] = eye, eye + [10, 0]
    assert eye_openness(points) == pytest.approx(1 / 3)
    points[[37, 38, 43, 44], 1] = 0.4  # upper lids down onto the lower ones
    assert eye_openness(points) == pytest.approx(0.1 / 3)
