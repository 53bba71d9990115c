"""Training: a CPU smoke run writes a loadable multi-scale checkpoint, and resumes where it stopped."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch

from stdnet_ros.cli import main
from stdnet_ros.data.torch_dataset import SyntheticClipDataset
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import load_model, read_checkpoint, save_checkpoint
from stdnet_ros.model.loss import metric_loss
from stdnet_ros.training.trainer import TrainConfig, Trainer, TrainNet

TINY = ["--mid-channels", "4", "--head-channels", "4", "--frames", "3", "--size", "32", "--batch", "1",
        "--steps-per-epoch", "2", "--val-clips", "1", "--scales", "4", "8"]  # fmt: skip


def test_smoke_run_writes_a_checkpoint_for_both_scales(tmp_path: pathlib.Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path), "--epochs", "1", *TINY]) == 0
    path = tmp_path / "stdnet.safetensors"
    for scale in (4, 8):
        model, meta = load_model(path, scale=scale)
        assert model.scale == scale and meta.mid_channels == 4
    record = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    assert record["epoch"] == 1 and record["val_x8_rmse_cm"] > 0
    assert record["val_x8_base_rmse_cm"] > 0 and record["val_x8_guided_rmse_cm"] > 0
    # the last frame of a causal window over the whole clip is the full clip's last frame, so the
    # streaming score differs from the clip score only through the shorter windows before it
    assert record["val_x8_stream_rmse_cm"] > 0 and record["val_x4_stream_rmse_cm"] != record["val_x4_rmse_cm"]
    assert (tmp_path / "stdnet-best.safetensors").is_file()
    assert main(["curve", str(path), str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_varied_clip_lengths_train_every_window_fill(tmp_path: pathlib.Path) -> None:
    """--vary-frames: steps on the first 1, 2 or 3 frames (the engine's fills after a reset)."""
    assert main(["train", "--out", str(tmp_path), "--epochs", "1", "--loss", "mse+l1", "--vary-frames",
                 *TINY, "--steps-per-epoch", "12"]) == 0  # fmt: skip
    record = read_checkpoint(tmp_path / "stdnet.safetensors")[1]["extra"]["history"][-1]
    assert sum(record["clip_lengths"]) == 12 and min(record["clip_lengths"]) > 0
    with pytest.raises(ValueError, match="vary-frames"):
        Trainer(TrainConfig(vary_frames=True, loss="published", out=str(tmp_path)))


def test_resume_continues_from_the_saved_epoch(tmp_path: pathlib.Path) -> None:
    main(["train", "--out", str(tmp_path), "--epochs", "1", *TINY])
    first = read_checkpoint(tmp_path / "stdnet.safetensors")
    main(["train", "--out", str(tmp_path), "--epochs", "2", "--resume", *TINY])
    _, meta = read_checkpoint(tmp_path / "stdnet.safetensors")
    history = meta["extra"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0] == first[1]["extra"]["history"][0]
    state = torch.load(tmp_path / "train_state.pth", weights_only=True)
    assert state["epoch"] == 2


@pytest.mark.parametrize("loss", ["mse+l1", "mse"])
def test_a_few_steps_on_one_clip_reduce_the_loss(loss: str) -> None:
    """Catches a broken loop (no gradient reaching the weights, a detached base, a sign error)."""
    cfg = TrainConfig(mid_channels=4, head_channels=4, base="guided", guided_radius_x=0.5, guided_eps=1e-4,
                      loss=loss, frames=2, size=32, scales=[4])  # fmt: skip
    torch.manual_seed(0)
    net = TrainNet(cfg)
    sample = SyntheticClipDataset(1, frames=2, size=32, scales=4, max_depth=cfg.max_depth, augment=False)[0]
    batch = {k: v[None] for k, v in sample.items()}
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        terms, _ = net(batch["lr"], batch["guide"], batch["gt"])
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        losses.append(float(terms.total.detach()))
    assert losses[0] > 0 and min(losses[-5:]) < 0.8 * losses[0], losses


def test_indoor_scenes_seen_through_a_large_camera_train_and_a_wrong_preset_is_refused(
    tmp_path: pathlib.Path,
) -> None:
    assert main(["train", "--out", str(tmp_path), "--epochs", "1", "--scene", "room@128+indoor",
                 "--render", "256", *TINY]) == 0  # fmt: skip
    _, meta = read_checkpoint(tmp_path / "stdnet.safetensors")
    assert meta["extra"]["config"]["scene"] == "room@128+indoor" and meta["extra"]["config"]["render"] == 256
    packaged = tmp_path / "default-x8.safetensors"  # how an embedded default is made from a run
    script = pathlib.Path(__file__).parents[1] / "scripts" / "package_default.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "stdnet-best.safetensors"), "--window", "2",
                    "--out", str(packaged)], check=True, capture_output=True)  # fmt: skip
    model, info = load_model(packaged, scale=8)
    assert info.window == 2 and info.name == "default-x8" and model.scale == 8
    assert "3-frame" in read_checkpoint(packaged)[1]["extra"]["window_note"]
    for wrong in ("kitchen", "room+kitchen", "room@big"):
        with pytest.raises(ValueError, match="must be one of"):
            Trainer(TrainConfig(scene=wrong, out=str(tmp_path)))


def test_validate_scores_a_checkpoint_as_its_training_run_did_and_on_another_scene_mix(
    tmp_path: pathlib.Path, capsys
) -> None:
    """``stdnet-ros validate`` is the trainer's own held-out score: runs on other mixes share a judge."""
    assert main(["train", "--out", str(tmp_path), "--epochs", "1", "--scene", "room", *TINY]) == 0
    path = str(tmp_path / "stdnet.safetensors")
    trained = read_checkpoint(path)[1]["extra"]["history"][-1]
    capsys.readouterr()
    same = ["--checkpoint", path, "--size", "32", "--render", "0", "--val-clips", "1", "--json"]
    assert main(["validate", *same, "--scene", "room"]) == 0
    scores = json.loads(capsys.readouterr().out)
    for key in ("val_x4_rmse_cm", "val_x8_stream_rmse_cm", "val_x8_guided_rmse_cm"):
        assert scores[key] == pytest.approx(trained[key], rel=1e-5)
    assert main(["validate", *same, "--scene", "room", "--window", "2"]) == 0  # a window of 2 of 3 frames
    windowed = json.loads(capsys.readouterr().out)
    assert windowed["val_x4_rmse_cm"] == scores["val_x4_rmse_cm"]
    assert windowed["val_x4_stream_rmse_cm"] != scores["val_x4_stream_rmse_cm"]
    assert main(["validate", *same, "--scene", "room", "--views", "2"]) == 0  # with the turned view
    assert json.loads(capsys.readouterr().out)["val_x4_rmse_cm"] != scores["val_x4_rmse_cm"]
    assert main(["validate", *same, "--scene", "clutter"]) == 0
    assert json.loads(capsys.readouterr().out)["val_x4_guided_rmse_cm"] != trained["val_x4_guided_rmse_cm"]


def test_a_soup_is_the_mean_of_its_checkpoints_and_refuses_two_architectures(tmp_path: pathlib.Path) -> None:
    script = pathlib.Path(__file__).parents[1] / "scripts" / "soup.py"
    paths = []
    for seed, ch in ((0, 4), (1, 4), (2, 8)):
        torch.manual_seed(seed)
        paths.append(save_checkpoint(STDNet(4, ch, 4), tmp_path / f"m{seed}.safetensors", window=3))
    out = tmp_path / "soup.safetensors"
    subprocess.run([sys.executable, str(script), str(paths[0]), str(paths[1]), "--out", str(out)],
                   check=True, capture_output=True)  # fmt: skip
    (a, _), (b, _), (soup, meta) = (read_checkpoint(p) for p in (paths[0], paths[1], out))
    for key in a:
        assert torch.allclose(soup[key], (a[key] + b[key]) / 2)
    assert meta["extra"]["soup_of"] == ["m0.safetensors", "m1.safetensors"] and load_model(out)[1].window == 3
    mixed = subprocess.run([sys.executable, str(script), str(paths[0]), str(paths[2]), "--out", str(out)],
                           capture_output=True, text=True)  # fmt: skip
    assert mixed.returncode != 0 and "architecture" in mixed.stderr


def test_the_mse_loss_is_the_squared_error_in_metres_and_mse_l1_adds_the_absolute_error() -> None:
    cfg = TrainConfig(mid_channels=4, head_channels=4, frames=1, size=32, scales=[4])
    pred, gt = torch.full((1, 1, 1, 2, 2), 0.5), torch.full((1, 1, 1, 2, 2), 0.25)  # 5 m off, of 20 m
    with_l1 = TrainNet(TrainConfig(**{**cfg.__dict__, "loss": "mse+l1"}))
    pure = TrainNet(TrainConfig(**{**cfg.__dict__, "loss": "mse"}))
    assert float(metric_loss(pred, gt, 20.0, pure.l1_weight).total) == pytest.approx(25.0)
    assert float(metric_loss(pred, gt, 20.0, with_l1.l1_weight).total) == pytest.approx(30.0)
    mask = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 2, 2)  # one pixel counts, and alone
    assert float(metric_loss(pred * (2 - mask), gt, 20.0, 1.0, mask).total) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        Trainer(TrainConfig(**{**cfg.__dict__, "loss": "l2"}))


def test_an_ema_run_saves_the_moving_average_and_resumes_it(tmp_path: pathlib.Path) -> None:
    """--ema: the checkpoints hold the average, the state holds both, and a resume continues exactly
    where it stopped: one epoch, then a resume to two, ends where two epochs in one go end (a restart
    of the average from the raw weights, or of the optimiser, would not)."""
    args = ["--loss", "mse", "--ema", "0.5", "--lr", "1e-2", *TINY]
    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    assert main(["train", "--out", str(stopped), *args, "--epochs", "1"]) == 0
    state = torch.load(stopped / "train_state.pth", weights_only=True)
    saved = read_checkpoint(stopped / "stdnet.safetensors")[0]
    name = next(k for k, v in saved.items() if v.is_floating_point() and v.numel() > 16)
    assert torch.equal(saved[name], state["ema"][name])
    assert not torch.equal(saved[name], state["net"][f"net.{name}"])  # lr 1e-2: the steps moved it
    assert main(["train", "--out", str(stopped), *args, "--epochs", "2", "--resume"]) == 0
    assert main(["train", "--out", str(straight), *args, "--epochs", "2"]) == 0
    resumed = torch.load(stopped / "train_state.pth", weights_only=True)
    whole = torch.load(straight / "train_state.pth", weights_only=True)
    for part in ("ema", "net"):
        assert resumed[part].keys() == whole[part].keys()
        for key, value in whole[part].items():
            torch.testing.assert_close(resumed[part][key], value, rtol=0, atol=0, msg=f"{part} {key}")
    assert torch.equal(read_checkpoint(stopped / "stdnet.safetensors")[0][name], resumed["ema"][name])
    with pytest.raises(ValueError, match="ema"):
        Trainer(TrainConfig(ema=1.0, loss="mse", out=str(tmp_path)))
