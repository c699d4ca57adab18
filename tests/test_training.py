"""Training on a tiny real corpus (clip files, label table and pre-trained-network checkpoints written by the
project's own writers): every generator variant trains and exports, an interrupted run of any of the four
trainers resumes where it was killed and ends bit-identical to an uninterrupted one, NaN losses and impossible
configs stop training with a message."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from autalk import cli
from autalk.data.clips import load_clip, save_clip
from autalk.errors import ConfigError
from autalk.models.generator import load_generator
from autalk.preprocess.template import template_points
from autalk.train import generator as trainer
from autalk.train import scaffold
from autalk.train.au_classifier import train_au_classifier
from autalk.train.audio2au import train_audio2au
from autalk.train.dataset import lower_face_boxes, mouth_boxes
from autalk.train.generator import TrainingDiverged, train
from autalk.train.losses import mask_off_lower_face
from autalk.train.sync_expert import train_sync_expert
from training_fixtures import make_corpus, tiny_config, with_run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


VARIANTS = {
    "tcsan_channels": {"model": {"attention": "channels"}},
    "tcsan_time_predicted": {"model": {"attention": "time", "au_input": "predicted"}},
    "tcn_ground_truth": {"model": {"fusion": "tcn", "au_input": "ground_truth"}},
    "gru_no_au": {"model": {"fusion": "gru", "au_input": "none", "au_loss": False}},
    "no_discriminator": {"model": {"discriminator": False, "au_input": "ground_truth"}},
    "mouth_l1": {"training": {"weight_mouth": 1.0}},
    "mask_off_lower_face_sync_gan": {"model": {"output": "mask_blend"},
                                     "training": {"weight_mask_off_lower_face": 0.5, "weight_sync_gan": 0.1}},
    "mask_blend_full_res_ema": {"model": {"output": "mask_blend", "full_res_skip": True},
                                "training": {"ema_decay": 0.9}},
    "cpu_bf16": {"model": {"output": "mask_blend"}, "training": {"cpu_bf16": True}},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_trains_checkpoints_and_exports(corpus, name):
    paths = with_run(corpus, name)
    cfg = tiny_config({"training": {"max_steps": 2}}, VARIANTS[name])
    train(cfg, paths)
    losses = pd.read_csv(paths.run_dir / "losses.csv")
    assert losses["step"].tolist() == [1, 2]
    assert (losses["au"] > 0).all() == cfg.model.au_loss
    assert (losses["mouth"] > 0).all() == (cfg.training.weight_mouth > 0)
    assert (losses["d"] > 0).all() == cfg.model.discriminator
    assert (losses["sync_d"] > 0).all() == (losses["sync_gan_g"] > 0).all() == (cfg.training.weight_sync_gan > 0)
    assert (losses["mask"] > 0).all() == (cfg.model.output == "mask_blend")
    assert (losses["unblended"] > 0).all() == (cfg.model.output == "mask_blend")
    assert (losses["mask_off_lower_face"] > 0).all() == (cfg.training.weight_mask_off_lower_face > 0)
    assert (paths.run_dir / "samples" / "step_0000002.png").stat().st_size > 0
    assert paths.curves.stat().st_size > 0 and list((paths.run_dir / "tensorboard").glob("events.*"))
    generator = load_generator(paths.model)
    assert generator.au_input == cfg.model.au_input
    clip = load_clip(corpus.clips_root / "t" / "t_0.npz")
    identity = torch.from_numpy(clip.frames[0]).permute(2, 0, 1).float() / 127.5 - 1
    frames = generator.generate(identity, torch.from_numpy(clip.mfcc_windows),
                                torch.full((clip.n_frames, 5), 2.0))
    assert frames.shape == (1, clip.n_frames, 3, 32, 32)
    trained = torch.load(paths.run_dir / "checkpoint.pt", weights_only=True)
    exported = torch.load(paths.model, weights_only=True)["state_dict"]
    kept = trained["ema"] if cfg.training.ema_decay > 0 else trained["generator"]
    assert all(torch.equal(exported[k], v) for k, v in kept.items())
    if cfg.training.ema_decay > 0:  # the average, not the last step's weights, is what generates
        assert not torch.equal(exported["decoder.proj.weight"], trained["generator"]["decoder.proj.weight"])


def test_mask_off_lower_face_penalises_the_mask_outside_the_lower_face_box_only():
    boxes = torch.tensor([[[8.0, 10.0, 15.0, 13.0]]])            # one frame's box: columns 8-15, rows 10-13
    on_box = torch.zeros(1, 1, 1, 32, 32)
    on_box[..., 10:14, 8:16] = 1
    assert mask_off_lower_face(on_box, boxes) == 0
    assert mask_off_lower_face(1 - on_box, boxes) == 1
    half = on_box.clone()
    half[..., :16, :] += 0.5 * (1 - on_box[..., :16, :])       # the upper half of the face half open
    assert mask_off_lower_face(half, boxes).item() == pytest.approx(0.5 * (16 * 32 - 32) / (32 * 32 - 32))


def test_lower_face_box_holds_the_jaw_and_mouth_and_leaves_the_eyes_out():
    face = template_points(64, "autalk")[None]                    # (1, 68, 2): the demo's aligned face
    (x0, y0, x1, y1), = lower_face_boxes(face)
    speech = np.concatenate([face[0, 2:15], face[0, 48:68]])      # jaw from cheek to cheek, chin, lips
    assert ((speech >= [x0, y0]) & (speech <= [x1, y1])).all()
    assert (face[0, 36:48, 1] < y0).all() and (face[0, 17:27, 1] < y0).all()    # eyes and brows above it
    (mx0, my0, mx1, my1), = mouth_boxes(face)
    assert x0 < mx0 and y0 < my0 and x1 > mx1 and y1 > my1


def test_interrupted_run_resumes_to_identical_weights(corpus, monkeypatch):
    cfg = tiny_config({"training": {"epochs": 2, "max_steps": 5, "checkpoint_every": 2,   # crosses an epoch
                                    "lr_schedule": "cosine", "weight_sync_gan": 0.1}},
                      {"model": {"au_input": "ground_truth", "dropout": 0.3}})
    whole = with_run(corpus, "whole")
    train(cfg, whole)

    broken = with_run(corpus, "broken")
    finite = trainer.check_finite

    def killed_at_step_4(step, losses):  # dies during step 4: step 3's work is lost with it
        if step == 4:
            raise KeyboardInterrupt
        finite(step, losses)

    monkeypatch.setattr(trainer, "check_finite", killed_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, broken)
    assert torch.load(broken.run_dir / "checkpoint.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(trainer, "check_finite", finite)
    train(cfg, broken)

    a = torch.load(whole.model, weights_only=True)
    b = torch.load(broken.model, weights_only=True)
    assert a["step"] == b["step"] == 5
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    ca = torch.load(whole.run_dir / "checkpoint.pt", weights_only=True)
    cb = torch.load(broken.run_dir / "checkpoint.pt", weights_only=True)
    assert sorted(ca["critics"]) == ["d", "sync_d"]
    for name, critic in ca["critics"].items():
        for key, value in critic["weights"].items():
            assert torch.equal(value, cb["critics"][name]["weights"][key]), (name, key)
    assert ca["opt_g"]["state"][0]["exp_avg_sq"].equal(cb["opt_g"]["state"][0]["exp_avg_sq"])
    # the fifth and last step ran at the cosine schedule's rate for step index 4 of 5, for every network
    optimisers = [(cb["opt_g"], cfg.training.lr_g)] + [(c["optimiser"], cfg.training.lr_d)
                                                        for c in cb["critics"].values()]
    for opt, base in optimisers:
        assert opt["param_groups"][0]["lr"] == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 4 / 5)))
    assert ca["data_position"] == cb["data_position"]
    pd.testing.assert_frame_equal(pd.read_csv(whole.run_dir / "losses.csv").drop(columns="step_s"),
                                  pd.read_csv(broken.run_dir / "losses.csv").drop(columns="step_s"))


SMALL_TRAINERS = {  # settings section (3 epochs, tiny widths), and how the trainer is called
    "au_classifier": ({"epochs": 3, "batch_size": 8, "frames_per_clip": 6},
                      lambda ds, c, out: train_au_classifier(ds, c.labels, c.qc, c.clips_root, out / "m.pt",
                                                             out / "m.csv", device="cpu")),
    "audio2au": ({"epochs": 3, "batch_size": 2, "time_channels": [4, 4, 4], "freq_channels": [8, 8],
                  "lstm_hidden": 8},
                 lambda ds, c, out: train_audio2au(ds, c.labels, c.qc, c.clips_root, out / "m.pt", out / "m.csv",
                                                   device="cpu")),
    "sync_expert": ({"epochs": 3, "max_offset": 2, "batch_size": 10},
                    lambda ds, c, out: train_sync_expert(ds, c.qc, c.clips_root, out / "m.pt", out / "m.csv",
                                                         device="cpu")),
}


@pytest.mark.parametrize("name", sorted(SMALL_TRAINERS))
def test_small_trainer_killed_mid_run_resumes_from_its_last_epoch(corpus, tmp_path, monkeypatch, name):
    """Killed while saving epoch 2 of 3, a rerun trains epochs 2 and 3 only and ends where an uninterrupted
    run ends: the same weights and metrics, and no training checkpoint left behind."""
    section, run = SMALL_TRAINERS[name]
    ds = tiny_config({name: section})
    run(ds, corpus, tmp_path / "whole")
    assert not scaffold.state_path(tmp_path / "whole" / "m.pt").exists()

    save, saved_epochs = scaffold.save_checkpoint, []

    def killed_at_epoch_2(ckpt, path):
        if ckpt["kind"] == f"{name}_training" and ckpt["epoch"] == 2:
            raise KeyboardInterrupt
        save(ckpt, path)

    monkeypatch.setattr(scaffold, "save_checkpoint", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(ds, corpus, tmp_path / "killed")
    state = scaffold.state_path(tmp_path / "killed" / "m.pt")
    assert torch.load(state, weights_only=True)["epoch"] == 1 and not (tmp_path / "killed" / "m.pt").exists()

    def recording(ckpt, path):
        if ckpt["kind"] == f"{name}_training":
            saved_epochs.append(ckpt["epoch"])
        save(ckpt, path)

    monkeypatch.setattr(scaffold, "save_checkpoint", recording)
    run(ds, corpus, tmp_path / "killed")
    assert saved_epochs == [2, 3] and not state.exists()
    whole = torch.load(tmp_path / "whole" / "m.pt", weights_only=True)["state_dict"]
    resumed = torch.load(tmp_path / "killed" / "m.pt", weights_only=True)["state_dict"]
    assert whole.keys() == resumed.keys()
    for key, value in whole.items():
        assert torch.equal(value, resumed[key]), key
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / "m.csv"), pd.read_csv(tmp_path / "killed" / "m.csv"))


def test_small_trainer_with_other_settings_starts_afresh(corpus, tmp_path, monkeypatch):
    """A training checkpoint of another seed is set aside, not resumed."""
    section, run = SMALL_TRAINERS["audio2au"]
    save = scaffold.save_checkpoint

    def killed_at_epoch_2(ckpt, path):
        if ckpt["kind"] == "audio2au_training" and ckpt["epoch"] == 2:
            raise KeyboardInterrupt
        save(ckpt, path)

    monkeypatch.setattr(scaffold, "save_checkpoint", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config({"audio2au": {**section, "seed": 1}}), corpus, tmp_path)
    monkeypatch.setattr(scaffold, "save_checkpoint", save)
    run(tiny_config({"audio2au": section}), corpus, tmp_path / "fresh")
    run(tiny_config({"audio2au": section}), corpus, tmp_path)
    assert scaffold.state_path(tmp_path / "m.pt").with_suffix(".pt.stale").is_file()
    fresh = torch.load(tmp_path / "fresh" / "m.pt", weights_only=True)["state_dict"]
    rerun = torch.load(tmp_path / "m.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(value, rerun[key]) for key, value in fresh.items())


def test_changed_settings_start_afresh(corpus):
    paths = with_run(corpus, "changed")
    train(tiny_config({"training": {"max_steps": 2}}), paths)
    train(tiny_config({"training": {"max_steps": 2, "lr_g": 1e-3}}), paths)
    assert (paths.run_dir / "checkpoint.pt.stale").is_file()
    assert pd.read_csv(paths.run_dir / "losses.csv")["step"].tolist() == [1, 2]


def test_changed_upstream_network_starts_afresh(corpus, tmp_path):
    """Same settings, but the frozen audio-to-AU networks were retrained (other widths): no resume."""
    import dataclasses

    from autalk.models.audio2au import Audio2AU, audio2au_checkpoint

    paths = with_run(corpus, "upstream")
    train(tiny_config({"training": {"max_steps": 2}}), paths)
    wider = Audio2AU(["AU10", "AU14", "AU20", "AU25", "AU26"], 12, 35, 4, [8, 8, 8], [16, 16], 16)
    torch.save(audio2au_checkpoint(wider, {}), tmp_path / "audio2au.pt")
    train(tiny_config({"training": {"max_steps": 2}}), dataclasses.replace(paths, audio2au=tmp_path / "audio2au.pt"))
    assert (paths.run_dir / "checkpoint.pt.stale").is_file()
    assert pd.read_csv(paths.run_dir / "losses.csv")["step"].tolist() == [1, 2]


def test_nan_loss_stops_training_naming_step_and_term(corpus, tmp_path):
    bad = make_corpus(tmp_path)
    for path in (bad.clips_root / "a").glob("*.npz"):
        clip = load_clip(path)
        clip.mfcc_windows[:] = float("nan")
        save_clip(clip, path)
    with pytest.raises(TrainingDiverged, match=r"step 1: loss term 'l1' is nan"):
        train(tiny_config({"training": {"batch_size": 6}}), bad)
    assert not bad.model.exists()


@pytest.mark.parametrize("overrides, variant, message", [
    ({"training": {"clip_length": 20}}, {}, "only 0 training clip"),
    ({"training": {"clip_start": 11, "clip_length": 8}}, {"model": {"attention": "channels"}}, "only 0 training clip"),
    ({}, {"model": {"au_input": "predicted", "au_feature_dim": 5}}, "au_feature_dim 5"),
    ({"aus": {"units": ["AU10", "AU25"]}}, {"model": {"au_input": "ground_truth"}}, "classifies AUs"),
])
def test_configs_that_cannot_fit_fail_before_training(corpus, overrides, variant, message):
    paths = with_run(corpus, "cannot_fit")
    with pytest.raises(ConfigError, match=message):
        train(tiny_config(overrides, variant), paths)
    assert not (paths.run_dir / "checkpoint.pt").exists()


def test_torchrun_launch_trains_data_parallel(corpus, tmp_path):
    """The launch the workflow uses for a job given several GPUs, here with two CPU processes (gloo)."""
    import subprocess
    import sys
    from pathlib import Path

    cfg = tiny_config({"training": {"epochs": 2, "max_steps": 3}})
    raw = {"datasets": {"demo": {"source": {"kind": "synthetic"}, "speakers": cfg.speakers,
                                 "splits": {"train": cfg.splits.train, "val": cfg.splits.val, "test": cfg.splits.test},
                                 "preprocess": {"faces": {"crop_size": 32}}, "model": cfg.model.__dict__,
                                 "training": cfg.training.__dict__}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    paths = with_run(corpus, "ddp")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "autalk.cli", "train",
           "--config", str(tmp_path / "c.yaml"), "--dataset", "demo", "--variant", "full",
           "--labels", str(paths.labels), "--qc", str(paths.qc), "--clips-root", str(paths.clips_root),
           "--au-classifier", str(paths.au_classifier), "--audio2au", str(paths.audio2au),
           "--run-dir", str(paths.run_dir), "--model", str(paths.model), "--curves", str(paths.curves)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = pd.read_csv(paths.run_dir / "losses.csv")["step"].tolist()
    # 6 training clips // (2 per batch x 2 ranks) = 1 step an epoch, 2 epochs (before max_steps): each logged once
    assert steps == [1, 2]
    assert load_generator(paths.model).au_input == "predicted"


def test_cli_trains_and_prints_config_errors(corpus, tmp_path, capsys):
    cfg = tiny_config({"training": {"max_steps": 1}})
    raw = {"datasets": {"demo": {"source": {"kind": "synthetic"}, "speakers": cfg.speakers,
                                 "splits": {"train": cfg.splits.train, "val": cfg.splits.val, "test": cfg.splits.test},
                                 "preprocess": {"faces": {"crop_size": 32}}, "model": cfg.model.__dict__,
                                 "training": cfg.training.__dict__,
                                 "variants": {"full": {}}}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump({"datasets": {"demo": {"variants": {
        "odd": {"model": {"kernel_size": 2}}}}}}))
    paths = with_run(corpus, "cli")
    args = ["train", "--dataset", "demo", "--labels", str(paths.labels),
            "--qc", str(paths.qc), "--clips-root", str(paths.clips_root), "--au-classifier", str(paths.au_classifier),
            "--audio2au", str(paths.audio2au), "--run-dir", str(paths.run_dir), "--model", str(paths.model),
            "--curves", str(paths.curves)]
    assert cli.main([*args, "--config", str(tmp_path / "c.yaml"), "--variant", "full"]) == 0
    assert load_generator(paths.model).au_input == "predicted"
    shutil.rmtree(paths.run_dir)
    assert cli.main([*args, "--config", str(tmp_path / "c.yaml"), str(tmp_path / "odd.yaml"), "--variant", "odd"]) == 2
    assert "odd.yaml: datasets.demo.variants.odd.model.kernel_size must be odd" in capsys.readouterr().err


@pytest.mark.parametrize("fusion", ["tcsan", "tcn", "gru"])
def test_every_variant_trains_on_the_clip_window_with_the_first_clip_frame_as_identity(corpus, fusion):
    """The paper's protocol for every architecture alike: each clip's window [clip_start, clip_start + length)
    and its frame clip_start as identity; random windows only when asked."""
    from autalk.data.clips import kept_clip_paths
    from autalk.train.dataset import ClipWindows, load_labels, usable_clips

    cfg = tiny_config(variant_overrides={"model": {"fusion": fusion}})
    tc = cfg.training
    assert trainer.window_needs(cfg) == (tc.clip_start + tc.clip_length, tc.clip_start)
    random_cfg = tiny_config({"training": {"windows": "random"}}, {"model": {"fusion": fusion}})
    assert trainer.window_needs(random_cfg) == (tc.clip_length, None)
    clips, _ = usable_clips(kept_clip_paths(corpus.qc, corpus.clips_root, cfg.splits.train), tc.clip_length)
    dataset = ClipWindows(clips, load_labels(corpus.labels, cfg.aus.units), corpus.labels, tc.clip_length,
                          (12, 35), 2**30, tc.identity_index)
    item = dataset[(0, tc.clip_start)]
    frames = load_clip(clips[0].path).frames
    assert torch.equal(item["identity"], torch.from_numpy(frames[tc.clip_start]))
    assert torch.equal(item["frames"], torch.from_numpy(frames[tc.clip_start:tc.clip_start + tc.clip_length]))
    other = ClipWindows(clips, load_labels(corpus.labels, cfg.aus.units), corpus.labels, tc.clip_length,
                        (12, 35), 2**30, tiny_config({"training": {"identity_frame": 0}}).training.identity_index)
    assert torch.equal(other[(0, tc.clip_start)]["identity"], torch.from_numpy(frames[0]))
