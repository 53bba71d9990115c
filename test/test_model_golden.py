"""The model computes the published network's function: names, shapes, outputs, loss."""

from __future__ import annotations

import pytest
import torch
from golden import FORWARD_CASES, case, golden_state, manifest, rel_error
from shared_data import requires_shared

from stdnet_ros.model import STDNet
from stdnet_ros.model.loss import DiffRec, stdnet_loss

pytestmark = requires_shared

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}
INTERMEDIATES = {"rgb_depth": "intermed_rgb_depth", "d_depth": "intermed_d_depth",
                 "rgb_conf": "intermed_rgb_conf", "d_conf": "intermed_d_conf"}  # fmt: skip


def golden_model(scale: int, dtype: torch.dtype) -> STDNet:
    model = STDNet(scale=scale, mid_channels=64).to(dtype)  # before loading: keep float64 weights exact
    model.load_state_dict(golden_state())
    return model.eval()


def test_state_dict_matches_published_names_order_and_shapes() -> None:
    ours = [[name, list(t.shape)] for name, t in STDNet(scale=4, mid_channels=64).state_dict().items()]
    assert ours == manifest()["video_rec"]
    assert [[n, list(t.shape)] for n, t in DiffRec(64).state_dict().items()] == manifest()["diff_rec"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", FORWARD_CASES)
def test_forward_reproduces_golden(name: str, dtype: torch.dtype) -> None:
    ref = case(name)
    model = golden_model(int(name[1]), dtype)
    with torch.no_grad():
        depth, extras = model(torch.from_numpy(ref["lr"]).to(dtype), torch.from_numpy(ref["guide"]).to(dtype))
    assert rel_error(depth, ref["depth"]) < TOLERANCE[dtype]
    for ours, theirs in INTERMEDIATES.items():
        assert rel_error(extras[ours], ref[theirs]) < TOLERANCE[dtype], ours


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_training_loss_reproduces_golden(dtype: torch.dtype) -> None:
    ref = case("train_x4_t5_8x10")
    model = golden_model(4, dtype)
    heads = DiffRec(64).to(dtype)
    heads.load_state_dict(golden_state("diff_rec"))
    with torch.no_grad():
        depth, extras = model(torch.from_numpy(ref["lr"]).to(dtype), torch.from_numpy(ref["guide"]).to(dtype))
        recs = heads(extras)
        terms = stdnet_loss(depth, torch.from_numpy(ref["gt"]).to(dtype), recs)
    assert rel_error(depth, ref["depth"]) < TOLERANCE[dtype]
    assert sorted(recs) == sorted(k for k in ref if k.startswith("diff_"))
    for key, value in recs.items():
        assert rel_error(value, ref[key]) < TOLERANCE[dtype], key
    for term in ("rec", "intra", "inter", "total"):
        ours = float(getattr(terms, term))
        assert abs(ours - float(ref[f"loss_{term}"])) <= TOLERANCE[dtype] * abs(float(ref[f"loss_{term}"])), (
            term
        )
