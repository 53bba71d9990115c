"""``stdnet-ros`` command line: one module per subcommand in this package.

Each module ``stdnet_ros/cli/<name>.py`` defines ``register(subparsers)`` which
adds its parser and sets ``func`` to a callable taking the parsed arguments and
returning an exit code. Modules are discovered, so adding a subcommand touches
no shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stdnet-ros", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
