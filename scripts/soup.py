"""Average the weights of checkpoints fine-tuned from one start (a uniform "model soup").

Fine-tunes of one network on different data stay in one basin, so their mean is a network too, and
such averages are reported to hold up better under a shift of data (Wortsman et al., "Model soups",
ICML 2022): here, from synthetic scenes to real ones. The first file's metadata is kept, with the
sources and their configurations recorded.

    python scripts/soup.py runs/a/a-best.safetensors runs/b/b-best.safetensors --out runs/soup.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stdnet_ros.model.checkpoint import build_model, infer_meta, read_checkpoint, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="trainer .safetensors files of one architecture")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    read = [read_checkpoint(path) for path in args.checkpoints]  # each file read once
    states = [state for state, _ in read]
    paths = [Path(path) for path in args.checkpoints]
    metas = [infer_meta(state, raw, None, path) for (state, raw), path in zip(read, paths, strict=True)]
    shapes = [{k: v.shape for k, v in state.items()} for state in states]
    function = [(m.base, m.guided_radius_x, m.guided_eps, m.max_depth, m.views) for m in metas]
    if any(shape != shapes[0] for shape in shapes) or any(f != function[0] for f in function):
        raise SystemExit("the checkpoints do not share one architecture (parameter names and shapes; "
                         f"base, radius, eps, max depth, views: {function})")  # fmt: skip
    model, meta = build_model(states[0], metas[0], paths[0]), metas[0]
    model.load_state_dict({k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]})
    sources = [path.name for path in paths]
    configs = [raw.get("extra", {}).get("config", {}) for _, raw in read]
    extra = {**read[0][1].get("extra", {}), "soup_of": sources, "soup_configs": configs}
    save_checkpoint(model, args.out, window=meta.window, views=meta.views, max_depth=meta.max_depth,
                    name=meta.name or "soup",
                    trained_on=f"uniform weight average of {', '.join(sources)}", extra=extra)  # fmt: skip
    print(f"wrote {args.out}: mean of {len(states)} checkpoints")


if __name__ == "__main__":
    main()
