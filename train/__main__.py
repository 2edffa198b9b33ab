"""Command line of the training package: ``python -m train {reproduce,sweep,bundle}``."""

from __future__ import annotations

import argparse
import dataclasses
import sys


def _add_common(parser: argparse.ArgumentParser, out_default: str) -> None:
    parser.add_argument("--data", help="aclImdb_v1.tar.gz or its extracted folder "
                        "(default: $IMDB_EDGE_DATA, then the cache folder)")
    parser.add_argument("--download", action="store_true",
                        help="download the official archive to the cache folder if not found")
    parser.add_argument("--out", default=out_default, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--vocab-size", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--final-epochs", type=int, default=4)
    parser.add_argument("--val-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def _config(args, **overrides):
    from .pipeline import Config

    fields = {f.name for f in dataclasses.fields(Config)}
    values = {k.replace("-", "_"): v for k, v in vars(args).items() if k in fields}
    values["verbose"] = 0 if args.quiet else 2
    values.update(overrides)
    return Config(**values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="the book's experiment: 20-epoch validation run, "
                         "plot, 4-epoch refit, test metrics, ONNX export")
    _add_common(rep, "runs/reproduce")
    rep.add_argument("--hidden-layers", type=int, default=2)
    rep.add_argument("--units", type=int, default=16)
    rep.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    rep.add_argument("--loss", choices=["binary_crossentropy", "mse"], default="binary_crossentropy")
    rep.add_argument("--no-export", action="store_true")
    rep.add_argument("--bundle", action="store_true",
                     help="also copy the exported model into imdb_edge/models/default")
    sw = sub.add_parser("sweep", help="the book's further experiments: layers, units, mse, tanh")
    _add_common(sw, "runs/sweep")
    sw.add_argument("--table", help="also write the markdown table here (e.g. docs/sweep.md)")
    args = parser.parse_args(argv)

    from imdb_edge._data import DataError, download, find_data

    try:
        if args.download:
            try:
                find_data(args.data)
            except DataError:
                args.data = str(download())
        if args.command == "reproduce":
            from .pipeline import reproduce

            cfg = _config(args)
            metrics = reproduce(cfg, export=not args.no_export)
            print(f"test_loss={metrics['test_loss']:.4f} test_accuracy={metrics['test_accuracy']:.4f} "
                  f"best_val_epoch={metrics['best_val_epoch']}")
            if args.bundle:
                if args.no_export:
                    parser.error("--bundle needs the export")
                from .export import bundle

                print(f"bundled into {bundle(cfg.out, 'default')}")
        elif args.command == "sweep":
            from .sweep import run_sweep

            run_sweep(_config(args), table_path=args.table)
    except DataError as exc:
        print(f"python -m train: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
