"""Reading and writing STDNet checkpoints safely.

Accepted: the authors' released ``.pth`` files (a plain ``Video_Rec`` state
dict, possibly inside ``state_dict``/``params`` and with ``module.`` or
``Video_Rec.`` prefixes), our own format (the same weights plus metadata, as
``.safetensors`` or ``.pth``), and any safetensors file of those weights.
Nothing is unpickled beyond tensors and plain containers: ``torch.load`` runs
with ``weights_only=True``, so a file carrying code is refused, not run.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from stdnet_ros import __version__
from stdnet_ros.model.stdnet import SCALES, STDNet
from stdnet_ros.model.views import VIEW_COUNTS

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
FORMAT_TAG = "stdnet_ros"
WRAPPER_KEYS = ("state_dict", "params", "params_ema", "model")
PREFIXES = ("module.", "Video_Rec.")
DEFAULT_MAX_DEPTH = 40.0  # DyDToF's normalisation, used when a checkpoint does not say


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason in its message."""


@dataclass
class CheckpointMeta:
    """What a checkpoint must tell besides its weights."""

    scale: int
    mid_channels: int
    head_channels: int = 64
    base: str = "bilinear"  # what the residual is added to (model.base); the published network: bilinear
    guided_radius_x: float = 1.0  # guided base only: radius as a multiple of the scale
    guided_eps: float = 1e-3  # guided base only: regulariser, guide units squared
    head_guide: bool = False  # the head's full-size convolution also sees guide and base (PredictionHead)
    window: int = 7  # frames the model was trained and selected for; the engine's default window
    views: int = 1  # self-ensemble views it was selected with (model.views); the engine's default
    max_depth: float = DEFAULT_MAX_DEPTH
    name: str = ""
    trained_on: str = "unknown"
    version: str = __version__
    extra: dict = field(default_factory=dict)


DEFAULT_CHECKPOINTS = {scale: WEIGHTS_DIR / f"default-x{scale}.safetensors" for scale in SCALES}
MULTI_SCALE_DEFAULT = 8  # scale None: x8's file, trained for x4 and x8 alike


def default_checkpoint(scale: int | None = None) -> Path:
    """The embedded default for ``scale``: one file per scale, as the authors ship theirs
    (``default-x4``, ``default-x8``, ``default-x16``; MODEL_CARD.md says which weights each holds).

    ``None`` is for a caller scoring several scales with one model (``validate --scales 4 8``):
    it gets ``default-x8``, trained for x4 and x8 alike. The node, ``eval``, ``bench`` and the demo
    always name their scale, so at x4 they run ``default-x4``, the more accurate file there.
    """
    scale = MULTI_SCALE_DEFAULT if scale is None else scale
    if scale not in DEFAULT_CHECKPOINTS:
        raise CheckpointError(f"no embedded default for x{scale}: one is embedded for each of {SCALES}")
    return DEFAULT_CHECKPOINTS[scale]


def served_scales(path: str | Path | None) -> tuple[int, ...]:
    """The scales a checkpoint serves (None = the embedded defaults: every scale has one)."""
    if not path:
        return SCALES
    state, raw_meta = read_checkpoint(Path(path))
    meta = infer_meta(state, raw_meta, None, Path(path))
    return tuple(int(s) for s in (meta.extra or {}).get("scales", [meta.scale]))


def _strip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Find the tensor dict (and our metadata if present) inside a loaded .pth object."""
    meta = {}
    if isinstance(obj, dict) and isinstance(obj.get(FORMAT_TAG), dict):
        meta = obj[FORMAT_TAG]
    while isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise CheckpointError(
                f"{path}: no state dict found (top-level keys: {sorted(map(str, obj))[:10]})"
            )
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: not a checkpoint (holds {type(obj).__name__}, not a dict of tensors)")
    return _strip(obj), meta


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return (state dict, metadata dict) from any accepted format, never running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
            state = load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
        meta = json.loads(header[FORMAT_TAG]) if FORMAT_TAG in header else {}
        return _strip(state), meta
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"{path}: refused or unreadable as a weights-only checkpoint ({err})") from err
    return _unwrap(obj, path)


def infer_meta(state: dict[str, torch.Tensor], meta: dict, scale: int | None, path: Path) -> CheckpointMeta:
    """Channels from tensor shapes; scale from metadata, the caller, or an 'X4'-style file name."""
    try:
        mid = state["conv_dep_init.hg_1.0.weight"].shape[0]
        head = state["final_pred.hg_1.6.weight"].shape[1]
    except KeyError as err:
        raise CheckpointError(f"{path}: not an STDNet checkpoint (missing {err.args[0]})") from None
    named = re.search(r"[xX](4|8|16)(?!\d)", path.stem)
    known = meta.get("scale") or (int(named.group(1)) if named else None)
    trained = meta.get("extra", {}).get("scales", [known])  # one model may serve several scales
    if scale is not None and known is not None and scale not in trained:
        raise CheckpointError(
            f"{path}: trained for x{'/x'.join(map(str, trained))}, but x{scale} was asked for"
        )
    scale = scale or known
    if scale is None:
        raise CheckpointError(f"{path}: scale unknown (not in metadata or file name); pass it explicitly")
    if int(scale) not in SCALES:
        raise CheckpointError(f"{path}: scale x{scale} is not one of {SCALES}")
    stored = ("base", "guided_radius_x", "guided_eps", "head_guide", "window", "views", "max_depth", "name",
              "trained_on", "version", "extra")  # fmt: skip
    fields = {k: meta[k] for k in stored if k in meta}
    if type(fields.get("views", 1)) is not int or fields.get("views", 1) not in VIEW_COUNTS:
        raise CheckpointError(f"{path}: views {fields['views']} is not one of {VIEW_COUNTS}")
    fields["name"] = fields.get("name") or path.stem
    return CheckpointMeta(scale=int(scale), mid_channels=mid, head_channels=head, **fields)


def check_state(model: STDNet, state: dict[str, torch.Tensor], path: Path) -> None:
    """List every missing, unexpected or mis-shaped tensor rather than failing on the first."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:20])}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}")
    if shapes:
        problems.append(f"shape mismatches (file vs model): {'; '.join(shapes[:20])}")
    if problems:
        raise CheckpointError(f"{path}: " + " | ".join(problems))


def load_model(
    path: str | Path | None, scale: int | None = None, device: str | torch.device = "cpu"
) -> tuple[STDNet, CheckpointMeta]:
    """Build an STDNet from a checkpoint (None or '' = the embedded default for ``scale``) in eval
    mode on device."""
    path = Path(path) if path else default_checkpoint(scale)
    state, raw_meta = read_checkpoint(path)
    meta = infer_meta(state, raw_meta, scale, path)
    return build_model(state, meta, path).to(device).eval(), meta


def build_model(state: dict[str, torch.Tensor], meta: CheckpointMeta, path: Path) -> STDNet:
    """The STDNet that ``meta`` describes, holding ``state`` (checked against it first)."""
    model = STDNet(
        meta.scale, meta.mid_channels, meta.head_channels, meta.base, meta.guided_radius_x, meta.guided_eps,
        meta.head_guide,
    )
    check_state(model, state, path)
    model.load_state_dict(state)
    return model


def add_head_guide(state: dict[str, torch.Tensor], model: STDNet) -> dict[str, torch.Tensor]:
    """``state`` of a model without ``head_guide`` made loadable into ``model`` with it: the head's
    new input channels get zero weights, so the result computes exactly what ``state`` did."""
    out = dict(state)
    for hg, head in model.final_pred.items():
        key, want = f"final_pred.{hg}.4.weight", head[4].weight
        have = state.get(key)
        if have is not None and have.shape[1] + head.guide_ch == want.shape[1]:
            pad = have.new_zeros(have.shape[0], want.shape[1] - have.shape[1], *have.shape[2:])
            out[key] = torch.cat([have, pad], dim=1)
    return out


def save_checkpoint(model: STDNet, path: str | Path, **meta: object) -> Path:
    """Write our format: safetensors with JSON metadata, or a weights-only-loadable .pth by suffix."""
    path = Path(path)
    info = CheckpointMeta(
        scale=model.scale, mid_channels=model.mid_channels, head_channels=model.head_channels,
        base=model.base, guided_radius_x=model.guided_radius_x, guided_eps=model.guided_eps,
        head_guide=model.head_guide, **meta,
    )  # fmt: skip
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".safetensors":
        save_file(state, str(tmp), metadata={FORMAT_TAG: json.dumps(asdict(info))})
    else:
        torch.save({FORMAT_TAG: asdict(info), "state_dict": state}, tmp)
    tmp.replace(path)
    return path
