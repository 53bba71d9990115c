"""Checkpoints: the authors' files, our formats, and every way a file can be wrong."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from golden import case, golden_state, rel_error
from shared_data import requires_shared

from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import (
    CheckpointError,
    add_head_guide,
    default_checkpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)


def tiny(seed: int = 0) -> STDNet:
    torch.manual_seed(seed)
    return STDNet(scale=4, mid_channels=8)


def same_weights(a: STDNet, b: STDNet) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@requires_shared
def test_released_checkpoint_loads_and_gives_the_published_outputs(tmp_path: pathlib.Path) -> None:
    """A file laid out as the authors' X4.pth: plain Video_Rec state dict, scale from the name."""
    path = tmp_path / "X4.pth"
    torch.save({k: v.float() for k, v in golden_state().items()}, path)
    model, meta = load_model(path)
    assert (meta.scale, meta.mid_channels, meta.head_channels) == (4, 64, 64)
    ref = case("x4_t5_8x10")
    with torch.no_grad():
        depth, _ = model(torch.from_numpy(ref["lr"]).float(), torch.from_numpy(ref["guide"]).float())
    assert rel_error(depth, ref["depth"]) < 1e-4


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}},
        lambda sd: {"params": {"Video_Rec." + k: v for k, v in sd.items()}},
        lambda sd: {"params_ema": sd, "iter": 5},
    ],
    ids=["state_dict+module", "params+Video_Rec", "params_ema"],
)
def test_wrapped_and_prefixed_state_dicts_load(tmp_path: pathlib.Path, wrap) -> None:
    model = tiny()
    path = tmp_path / "net_x4.pth"
    torch.save(wrap(model.state_dict()), path)
    loaded, meta = load_model(path)
    assert meta.mid_channels == 8 and meta.scale == 4
    assert same_weights(model, loaded)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_our_format_round_trips_bit_exactly_with_metadata(tmp_path: pathlib.Path, suffix: str) -> None:
    model = tiny(1)
    path = save_checkpoint(
        model, tmp_path / f"ours{suffix}", max_depth=12.5, trained_on="synthetic", name="t"
    )
    loaded, meta = load_model(path)
    assert same_weights(model, loaded)
    assert meta.max_depth == 12.5 and meta.trained_on == "synthetic" and meta.name == "t"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_head_guide_model_round_trips_and_starts_as_the_model_it_grew_from(tmp_path: pathlib.Path) -> None:
    """The head's new guide and base inputs start at zero weight: the grown model computes exactly
    what its source did, and the file says it has them."""
    source = tiny(2)
    grown = STDNet(scale=4, mid_channels=8, head_guide=True).eval()
    grown.load_state_dict(add_head_guide(source.state_dict(), grown))
    lr, guide = torch.rand(1, 2, 1, 4, 5), torch.rand(1, 2, 3, 16, 20)
    with torch.no_grad():
        assert torch.equal(grown(lr, guide)[0], source.eval()(lr, guide)[0])
        torch.nn.init.normal_(grown.final_pred["hg_1"][4].weight)  # the grown inputs, once trained, are read
        assert not torch.equal(grown(lr, guide)[0], source(lr, guide)[0])
    loaded, meta = load_model(save_checkpoint(grown, tmp_path / "grown.safetensors"))
    assert meta.head_guide and loaded.head_guide and same_weights(grown, loaded)
    assert not load_model(save_checkpoint(source, tmp_path / "plain.safetensors"))[1].head_guide


def test_plain_safetensors_without_metadata_loads(tmp_path: pathlib.Path) -> None:
    from safetensors.torch import save_file

    model = tiny(2)
    path = tmp_path / "weights_x4.safetensors"
    save_file(model.state_dict(), str(path))
    loaded, _ = load_model(path)
    assert same_weights(model, loaded)


class _Payload:
    """Pickles to a call that would create a file if ever unpickled without weights_only."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_callable_is_refused_without_running(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_x4.pth"
    torch.save({"state_dict": tiny().state_dict(), "hook": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    assert not marker.exists()


def test_errors_name_the_problem(tmp_path: pathlib.Path) -> None:
    good = tiny().state_dict()
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pth")
    (tmp_path / "junk_x4.pth").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_model(tmp_path / "junk_x4.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(tmp_path / "junk.safetensors", scale=4)
    torch.save([1, 2, 3], tmp_path / "list_x4.pth")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_model(tmp_path / "list_x4.pth")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other_x4.pth")
    with pytest.raises(CheckpointError, match="not an STDNet checkpoint"):
        load_model(tmp_path / "other_x4.pth")

    broken = dict(good)
    del broken["final_pred.hg_2.6.bias"]
    broken["extra.weight"] = torch.zeros(1)
    broken["reconstruction.hg_1.main.0.bias"] = torch.zeros(3)
    torch.save(broken, tmp_path / "broken_x4.pth")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "broken_x4.pth")
    text = str(err.value)
    assert "missing keys (1): final_pred.hg_2.6.bias" in text
    assert "unexpected keys (1): extra.weight" in text
    assert "reconstruction.hg_1.main.0.bias: (3,) vs (8,)" in text

    torch.save(good, tmp_path / "noscale.pth")
    with pytest.raises(CheckpointError, match="scale unknown"):
        load_model(tmp_path / "noscale.pth")
    ours = save_checkpoint(tiny(), tmp_path / "ours.safetensors", max_depth=10.0)
    with pytest.raises(CheckpointError, match="trained for x4, but x8"):
        load_model(ours, scale=8)


def test_loaded_model_is_in_eval_mode_on_the_device(tmp_path: pathlib.Path) -> None:
    path = save_checkpoint(tiny(), tmp_path / "m.safetensors", max_depth=10.0)
    model, _ = load_model(path, device="cpu")
    assert not model.training
    assert next(model.parameters()).device.type == "cpu"
    assert np.isfinite(sum(p.sum().item() for p in model.parameters()))


def test_the_embedded_defaults_are_one_file_per_scale() -> None:
    """x4: stage 10's M (with the head guide, x4 only); x8: stage 8 (trained for x4 and x8, so it also
    serves x4 when named); x16: the stage-3 weights. Each serves its scale and x8's file refuses x16."""
    stage3 = pathlib.Path(__file__).parents[1] / "training-state" / "c8in-stage3" / "c8in-best.safetensors"
    assert [default_checkpoint(s).name for s in (4, 8, 16)] == [
        "default-x4.safetensors", "default-x8.safetensors", "default-x16.safetensors"
    ]  # fmt: skip
    assert all(default_checkpoint(s).is_file() for s in (4, 8, 16))
    assert default_checkpoint(None) == default_checkpoint(8)  # the file trained for x4 and x8 alike
    with pytest.raises(CheckpointError, match="no embedded default for x3"):
        default_checkpoint(3)
    x4, meta4 = load_model(None, scale=4)
    assert load_model(None, scale=8)[1].name == "default-x8" and meta4.name == "default-x4"
    assert meta4.head_guide and x4.head_guide and (meta4.window, meta4.views) == (2, 2)
    with pytest.raises(CheckpointError, match="trained for x4, but x8"):
        load_model(default_checkpoint(4), scale=8)
    model, meta = load_model(None, scale=16)
    assert model.scale == 16 and meta.base == "guided" and meta.mid_channels == 8 and meta.window == 2
    assert same_weights(model, load_model(stage3, scale=16)[0])
    for scale, net in ((4, x4), (16, model)):
        h = 4 if scale == 4 else 2
        lr, guide = torch.rand(1, 3, 1, h, 6), torch.rand(1, 3, 3, scale * h, scale * 6)
        with torch.no_grad():
            out = net(lr, guide)[0]
        assert out.shape[-2:] == guide.shape[-2:] and torch.isfinite(out).all()
    with pytest.raises(CheckpointError, match="trained for x4/x8, but x16"):
        load_model(default_checkpoint(8), scale=16)
