"""Turn a training checkpoint into the embedded default: same weights, the run window, the name.

The trainer writes ``window`` = the clip length it trained on; the shipped file may run a shorter
window for speed (fewer temporal-difference terms per frame). Everything else in the file's
metadata (training configuration, per-epoch history) is kept, with a note saying why the window
differs.

    python scripts/package_default.py runs/s8-f960/s8f-best.safetensors --window 2 --views 2 \
        --out stdnet_ros/weights/default-x8.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stdnet_ros.model.checkpoint import load_model, read_checkpoint, save_checkpoint
from stdnet_ros.model.views import VIEW_COUNTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a trainer's .safetensors (usually <name>-best)")
    parser.add_argument("--window", type=int, required=True, help="frames per inference in the node")
    parser.add_argument("--views", type=int, choices=VIEW_COUNTS,
                        help="self-ensemble views per frame (model.views; each costs one network run); "
                        "default: the source's")
    parser.add_argument("--out", required=True,
                        help="where to write it; the embedded files are stdnet_ros/weights/default-x<scale>"
                        ".safetensors, one per scale, so the file to replace is named, never assumed")
    args = parser.parse_args()
    _, raw = read_checkpoint(args.checkpoint)
    model, meta = load_model(args.checkpoint)
    trained = raw["extra"]["config"]["frames"]
    extra = {**raw["extra"], "source": Path(args.checkpoint).name}
    if args.window != trained:
        extra["window_note"] = f"trained on {trained}-frame clips; run at W={args.window} (model card)"
    views = args.views or meta.views
    save_checkpoint(model, args.out, window=args.window, views=views, max_depth=meta.max_depth,
                    name=Path(args.out).stem, trained_on=raw["trained_on"], extra=extra)  # fmt: skip
    print(f"wrote {args.out}: window {args.window}, {views} view(s), scales {extra['scales']}")


if __name__ == "__main__":
    main()
