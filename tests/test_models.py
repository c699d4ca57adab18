"""The generator's modules: shapes at paper and demo scale, the fusion's receptive field and (non-)causality,
checkpoint round trips, and inference on audio of any length."""

from __future__ import annotations

import pytest
import torch

from autalk.config import ModelConfig
from autalk.errors import DataError
from autalk.models.audio2au import Audio2AU
from autalk.models.checkpoints import initialisation_skipped
from autalk.models.decoder import FrameDecoder
from autalk.models.discriminator import PatchDiscriminator, SyncDiscriminator, mouth_crops, mouth_windows
from autalk.models.encoders import AudioEncoder, ImageEncoder
from autalk.models.fusion import TCSAN, GRUFusion, build_fusion
from autalk.models.generator import Generator, GeneratorConfig, generator_checkpoint, load_generator

UNITS = ["AU10", "AU14", "AU20", "AU25", "AU26"]
DEMO = dict(attention="time", channels=[128, 128, 128, 256], image_dim=128, audio_dim=128, au_feature_dim=16)


def test_paper_scale_generator_shapes():
    """128 crop, 50-frame clips, channel attention, 1344-d per-frame concatenation, 12x35 MFCC windows."""
    torch.manual_seed(0)
    model = ModelConfig(attention="channels")
    gen = Generator(GeneratorConfig(model, 128, 12, 35, len(UNITS), 50), Audio2AU(UNITS, 12, 35, 64)).eval()
    assert gen.in_dim == 1344
    assert gen.fusion.out_dim == 1024
    identity, mfcc = torch.rand(2, 3, 128, 128) * 2 - 1, torch.randn(2, 50, 12, 35)
    with torch.no_grad():
        features = gen.au_features(mfcc)
        frames = gen(identity, mfcc, features)
        alone = gen(identity[1:], mfcc[1:], features[1:])
    assert features.shape == (2, 50, 5, 64)
    assert frames.shape == (2, 50, 3, 128, 128)
    # the encoders and the decoder see batch x time flattened: each clip must still be its own inputs' alone
    assert torch.allclose(frames[1:], alone, atol=1e-5)
    assert (frames[0] - frames[1]).abs().mean() > 1e-3


def test_demo_scale_generator_trains_on_any_length():
    torch.manual_seed(0)
    gen = Generator(GeneratorConfig(ModelConfig(au_input="ground_truth", **DEMO), 64, 12, 35, 5, 24))
    assert gen.in_dim == 128 + 128 + 5 * 16
    intensity = torch.rand(2, 31, 5) * 5
    frames = gen(torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 31, 12, 35), gen.au_features(
        torch.randn(2, 31, 12, 35), intensity, (intensity > 1).float()))
    assert frames.shape == (2, 31, 3, 64, 64)
    frames.mean().backward()
    assert gen.au_embedding.w1.grad is not None and gen.audio_encoder.head[0].weight.grad is not None


@pytest.mark.parametrize("crop", [64, 128])
def test_encoder_decoder_and_discriminator_shapes(crop):
    image = torch.randn(3, 3, crop, crop)
    embedding, skips = ImageEncoder(crop, 40)(image)
    assert embedding.shape == (3, 40)
    assert [s.shape[1:] for s in skips] == [(16, crop // 2, crop // 2), (32, crop // 4, crop // 4),
                                            (64, crop // 8, crop // 8), (128, crop // 16, crop // 16)]
    frames, mask, unblended = FrameDecoder(40, crop)(embedding, skips, image)
    assert frames.shape == (3, 3, crop, crop) and mask is None and unblended is None
    assert PatchDiscriminator()(image).shape == (3, 1, crop // 16, crop // 16)
    assert AudioEncoder(12, 28, 24)(torch.randn(5, 12, 28)).shape == (5, 24)


def test_mouth_crops_copy_the_square_around_each_mouth_and_stay_inside_the_frame():
    frames = torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).reshape(2, 3, 64, 64).requires_grad_()
    # the first mouth centred at (32.4, 45.6): its 32 px square starts at x 16, y 30; the second at the bottom
    # right corner, shifted inside
    boxes = torch.tensor([[22.0, 40.0, 42.8, 51.2], [50.0, 56.0, 70.0, 66.0]])
    crops = mouth_crops(frames, boxes, 32)
    assert crops.shape == (2, 3, 32, 32)
    assert torch.equal(crops[0], frames[0, :, 30:62, 16:48])
    assert torch.equal(crops[1], frames[1, :, 32:64, 32:64])
    crops.sum().backward()  # the generator learns through the crop: a gradient on exactly the cropped pixels
    assert frames.grad.sum() == 2 * 3 * 32 * 32 and frames.grad[0, :, 30:62, 16:48].eq(1).all()


def test_sync_discriminator_pairs_each_run_of_mouths_with_its_middle_frames_speech():
    b, t, side = 2, 9, 16
    mouths = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1, 1).expand(b, t, 3, side, side)
    mfcc = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1).expand(b, t, 12, 28)
    runs, speech = mouth_windows(mouths, mfcc, 5)
    assert runs.shape == (b, 5, 5, 3, side, side) and speech.shape == (b, 5, 12, 28)
    for k in range(5):  # run k holds frames k..k+4 and hears frame k+2
        assert runs[:, k, :, 0, 0, 0].eq(torch.arange(k, k + 5, dtype=torch.float32)).all()
        assert speech[:, k].eq(k + 2).all()
    logits = SyncDiscriminator(2 * side, 12, 28)(runs.flatten(0, 1), speech.flatten(0, 1))
    assert logits.shape == (b * 5, 1)


def test_mask_blend_starts_near_the_identity_and_copies_it_where_the_mask_is_closed():
    """The blend is mask * generated + (1 - mask) * identity: a fresh decoder's mask is small everywhere, so its
    first frames are already close to the photo; a closed mask returns the identity pixels exactly, and the
    generated image stays what the decoder draws (training supervises it there too)."""
    torch.manual_seed(0)
    identity = torch.rand(2, 3, 64, 64) * 2 - 1
    embedding, skips = ImageEncoder(64, 40)(identity)
    for full_res_skip in (False, True):
        decoder = FrameDecoder(40, 64, output="mask_blend", full_res_skip=full_res_skip)
        frames, mask, unblended = decoder(embedding, skips, identity)
        assert mask.shape == (2, 1, 64, 64) and 0.05 < mask.mean() < 0.2
        assert torch.allclose(frames, mask * unblended + (1 - mask) * identity, atol=1e-6)
        plain, _, _ = FrameDecoder(40, 64, full_res_skip=full_res_skip)(embedding, skips, identity)
        assert (frames - identity).abs().mean() < 0.5 * (plain - identity).abs().mean()
    with torch.no_grad():
        decoder.head[-1].bias[3] = -100.0
    frames, mask, unblended = decoder(embedding, skips, identity)
    assert mask.max() < 1e-6 and torch.allclose(frames, identity, atol=1e-5)
    assert (unblended - identity).abs().mean() > 0.1


def _changed_outputs(fusion, t_len: int, t_change: int, dim: int) -> torch.Tensor:
    """Frames whose output moves when only input frame ``t_change`` changes."""
    torch.manual_seed(1)
    x = torch.randn(1, t_len, dim)
    y = x.clone()
    y[0, t_change] += torch.randn(dim) * 3
    with torch.no_grad():
        diff = (fusion(x) - fusion(y)).abs().amax(dim=-1)[0]
    return torch.nonzero(diff > 1e-6).flatten()


def test_tcn_receptive_field_is_symmetric_and_bounded():
    """kernel 3, dilations 1-2-4-8, two convs per level: R = 2 * (1+2+4+8) = 30 frames each way."""
    torch.manual_seed(0)
    fusion = build_fusion(ModelConfig(fusion="tcn", channels=[32, 32, 32, 48]), 20, 100).eval()
    assert isinstance(fusion, TCSAN) and fusion.receptive_radius == 30
    changed = _changed_outputs(fusion, 100, 50, 20)
    assert changed.min().item() == 50 - 30 and changed.max().item() == 50 + 30


def test_tcsan_time_attention_is_global_and_non_causal():
    torch.manual_seed(0)
    fusion = build_fusion(ModelConfig(attention="time", channels=[32, 32, 32, 48]), 20, 100).eval()
    changed = _changed_outputs(fusion, 100, 80, 20)
    assert changed.min().item() == 0 and changed.max().item() == 99   # frames before 80 - R move too


def test_tcsan_channel_attention_is_tied_to_its_clip_length():
    fusion = build_fusion(ModelConfig(attention="channels", channels=[16, 16, 16, 24]), 20, 12).eval()
    changed = _changed_outputs(fusion, 12, 6, 20)
    assert changed.min().item() == 0 and changed.max().item() == 11
    with pytest.raises(ValueError, match="12-frame clips"):
        fusion(torch.randn(1, 13, 20))


def test_gru_fusion_is_causal():
    fusion = build_fusion(ModelConfig(fusion="gru", gru_hidden=24), 20, 30).eval()
    assert isinstance(fusion, GRUFusion)
    changed = _changed_outputs(fusion, 30, 10, 20)
    assert changed.min().item() == 10 and changed.max().item() == 29


def _tiny_generator(au_input: str, attention: str = "time") -> Generator:
    model = ModelConfig(au_input=au_input, attention=attention, channels=[16, 16, 16, 24], image_dim=16,
                        audio_dim=16, au_feature_dim=4, dropout=0.0)
    audio2au = Audio2AU(UNITS, 12, 35, 4) if au_input == "predicted" else None
    return Generator(GeneratorConfig(model, crop_size=32, n_mfcc=12, mfcc_window=35, n_aus=len(UNITS),
                                     clip_length=10), audio2au)


@pytest.mark.parametrize("au_input", ["predicted", "ground_truth", "none"])
def test_checkpoint_round_trip_rebuilds_from_the_file_alone(tmp_path, au_input):
    torch.manual_seed(0)
    gen = _tiny_generator(au_input)
    with torch.no_grad():  # move batch-norm statistics away from their defaults
        gen.train()(torch.rand(2, 3, 32, 32), torch.randn(2, 10, 12, 35), gen.au_features(
            torch.randn(2, 10, 12, 35), torch.rand(2, 10, 5) * 5, torch.ones(2, 10, 5)))
    torch.save(generator_checkpoint(gen, {}, UNITS, step=7), tmp_path / "g.pt")
    loaded = load_generator(tmp_path / "g.pt")
    assert loaded.cfg == gen.cfg
    identity, mfcc, intensity = torch.rand(3, 32, 32) * 2 - 1, torch.randn(17, 12, 35), torch.rand(17, 5) * 5
    expected = gen.generate(identity, mfcc, intensity)
    assert torch.equal(loaded.generate(identity, mfcc, intensity), expected)
    assert expected.shape == (1, 17, 3, 32, 32)
    if au_input == "predicted":
        assert not any(p.requires_grad for p in loaded.audio2au.parameters())


def test_channel_attention_generator_generates_any_length_in_windows():
    torch.manual_seed(0)
    gen = _tiny_generator("none", attention="channels")
    identity = torch.rand(3, 32, 32) * 2 - 1
    mfcc = torch.randn(23, 12, 35)
    long = gen.generate(identity, mfcc)
    assert long.shape == (1, 23, 3, 32, 32)
    assert torch.equal(long[:, :10], gen.generate(identity, mfcc[:10]))          # first window as is
    assert torch.equal(long[:, 13:], gen.generate(identity, mfcc[13:]))          # last window aligned to the end
    assert gen.generate(identity, mfcc[:4]).shape == (1, 4, 3, 32, 32)          # shorter: padded, then cut


def test_overlapping_windows_decode_each_frame_once():
    """Long audio is fused in whole windows, but each frame is drawn once, from the last window that holds it:
    the frames are those of decoding every window whole and keeping the last one's (to float rounding: the
    decoder then sees batches of another size)."""
    torch.manual_seed(0)
    gen = _tiny_generator("none", attention="channels")            # windows of 10 frames
    identity, mfcc = torch.rand(3, 32, 32) * 2 - 1, torch.randn(23, 12, 35)
    whole = [gen.generate(identity, mfcc[start:start + 10]) for start in (0, 10, 13)]
    decoded = []
    gen.decoder.register_forward_hook(lambda module, args, out: decoded.append(args[0].shape[0]))
    long = gen.generate(identity, mfcc)
    assert decoded == [10, 3, 10]
    torch.testing.assert_close(long, torch.cat([whole[0], whole[1][:, :3], whole[2]], dim=1), rtol=0, atol=1e-6)


def test_initialisation_is_skipped_only_inside_and_a_loaded_generator_has_every_weight(tmp_path):
    """Building a generator for a checkpoint skips the random initialisation (its values are all replaced); the
    initialisers are back afterwards, even after an error; a checkpoint that lacks a weight is refused, so no
    uninitialised weight can remain in a loaded generator."""
    originals = {name: getattr(torch.nn.init, name) for name in ("kaiming_uniform_", "uniform_", "normal_")}
    with pytest.raises(RuntimeError), initialisation_skipped():
        raise RuntimeError("fails while building")
    assert {name: getattr(torch.nn.init, name) for name in originals} == originals
    torch.manual_seed(0)
    first = torch.nn.Linear(8, 8).weight.clone()
    torch.manual_seed(0)
    with initialisation_skipped():
        torch.nn.Linear(8, 8)
    assert torch.equal(torch.nn.Linear(8, 8).weight, first)       # no random draw was spent inside
    gen = _tiny_generator("predicted")
    ckpt = generator_checkpoint(gen, {}, UNITS, step=1)
    del ckpt["state_dict"]["decoder.head.0.weight"]
    torch.save(ckpt, tmp_path / "g.pt")
    with pytest.raises(RuntimeError, match="decoder.head.0.weight"):
        load_generator(tmp_path / "g.pt")


def test_load_generator_names_a_bad_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_generator(tmp_path / "missing.pt")
    torch.save({"kind": "audio2au"}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a generator checkpoint"):
        load_generator(tmp_path / "other.pt")
