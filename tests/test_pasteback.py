"""Paste-back: the video is the photo at its own resolution, with only the lower face replaced through a
feathered mask, on a real GRID frame and the packaged photos placed small, large, off-centre and tilted; and
the batch mode over folders of photos and recordings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import soundfile

from autalk.cli import main
from autalk.demo.previews import read_frames
from autalk.generate.photo import PhotoAnimator
from autalk.generate.video import probe
from autalk.preprocess.faces import apply_transform
from photo_fixtures import SR, photo, tone, write_photo, write_untrained_checkpoint

CASES = ["grid_frame", "astronaut", "large_face", "small_off_centre", "tilted"]


@pytest.fixture(scope="module")
def animator(tmp_path_factory):
    return PhotoAnimator(write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "generator.pt"), "cpu")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    soundfile.write(str(path), tone(1.0), SR)
    return path


@pytest.mark.parametrize("case", CASES)
def test_paste_back_keeps_the_photo_outside_the_lower_face(animator, speech, tmp_path, case):
    image = photo(case)
    out = tmp_path / "talking.mp4"
    result = animator.write(write_photo(image, tmp_path / f"{case}.png"), speech, out)
    info = probe(out)
    assert (info.width, info.height) == (image.shape[1], image.shape[0])
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration_s == pytest.approx(1.0, abs=0.05)

    pasted = result.video_frames()
    alpha = pasted.alpha_in_photo
    frames = np.stack([pasted[i] for i in range(len(pasted))])
    assert frames.shape == (25, *image.shape)
    # Outside the mask the frames are the photo, bit for bit; the eyes and brows lie outside it.
    assert (frames[:, alpha == 0] == image[alpha == 0]).all()
    in_photo = apply_transform(cv2.invertAffineTransform(result.face.matrix), result.face.landmarks)
    x, y = np.round(in_photo).astype(int).T
    eyes_and_brows = list(range(17, 27)) + list(range(36, 48))
    assert (alpha[y[eyes_and_brows], x[eyes_and_brows]] == 0).all()
    # The mask covers the mouth and fades in: no step from photo to generated face.
    assert alpha[y[48:68], x[48:68]].min() > 0.9
    assert max(np.abs(np.diff(alpha, axis=0)).max(), np.abs(np.diff(alpha, axis=1)).max()) < 0.35
    # The generated lower face is really there, in the photo's colour (the untrained generator's is not).
    inside = alpha > 0.9
    assert np.abs(frames[:, inside].astype(float) - image[inside]).mean() > 2
    weight = alpha[..., None] / alpha.sum()
    colour_gap = ((frames.mean(0) - image) * weight).sum(axis=(0, 1))
    assert np.abs(colour_gap).max() < 6
    # The video decodes to the photo away from the lower face (codec noise only; chroma spreads 2 px).
    away = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    video = read_frames(out)
    assert video.shape == frames.shape
    assert np.abs(video[:, away].astype(float) - image[away]).mean() < 2.5


def test_crop_only_and_side_by_side(animator, speech, tmp_path):
    image = photo("astronaut")
    face = write_photo(image, tmp_path / "face.png")
    animator.write(face, speech, tmp_path / "crop.mp4", crop_only=True)
    assert (probe(tmp_path / "crop.mp4").width, probe(tmp_path / "crop.mp4").height) == (64, 64)
    result = animator.write(face, speech, tmp_path / "sbs.mp4", side_by_side=True)
    frame = result.video_frames(side_by_side=True)[3]
    assert frame.shape == (512, 512 * 2 + 8, 3)
    assert (frame[:, :512] == image).all()
    assert (probe(tmp_path / "sbs.mp4").width, probe(tmp_path / "sbs.mp4").height) == (1032, 512)


def test_batch_mode_animates_every_pair_and_names_the_failures(animator, speech, tmp_path, capsys, monkeypatch):
    import autalk.models.generator as generator_module

    photos, audios, out = tmp_path / "photos", tmp_path / "audios", tmp_path / "videos"
    photos.mkdir(), audios.mkdir()
    write_photo(photo("grid_frame"), photos / "grid.png")
    write_photo(np.full((200, 200, 3), 128, np.uint8), photos / "wall.png")      # no face
    (photos / "notes.txt").write_text("not a photo: ignored by its suffix")
    soundfile.write(str(audios / "one.wav"), tone(0.8), SR)
    soundfile.write(str(audios / "two.flac"), tone(0.6, 22050), 22050)
    loads = []
    real_load = generator_module.generator_from_checkpoint
    monkeypatch.setattr(generator_module, "generator_from_checkpoint", lambda *a: loads.append(a) or real_load(*a))
    checkpoint = animator.checkpoint
    assert main(["generate", "--checkpoint", str(checkpoint), "--image", str(photos), "--audio", str(audios),
                 "-o", str(out), "--save-aus", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "2 of 4 photo x recording pairs failed" in err and "wall.png" in err and "no face found" in err
    assert len(loads) == 1                                   # the networks are loaded once for the batch
    written = sorted(p.name for p in out.glob("*.mp4"))
    assert written == ["grid__one.mp4", "grid__two.mp4"]
    assert (probe(out / "grid__two.mp4").width, probe(out / "grid__two.mp4").height) == (360, 288)
    assert (out / "grid__one.aus.csv").is_file() and not (out / "wall__one.aus.csv").exists()
    assert not list(out.glob(".*"))                          # nothing half-written
    (photos / "wall.png").unlink()
    assert main(["generate", "--checkpoint", str(checkpoint), "--image", str(photos), "--audio",
                 str(audios / "one.wav"), "-o", str(tmp_path / "again"), "--device", "cpu"]) == 0
    assert [p.name for p in (tmp_path / "again").glob("*.mp4")] == ["grid__one.mp4"]
