"""``kerascnn finetune``: a pretrained backbone, a new head, staged fine-tuning, from the shell.

kecam backbones need Keras 2, chosen by ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported. The command decides from the backbone's name alone (:mod:`kerascnn.transfer.catalogue`
reads no Keras): if TensorFlow is not imported yet it sets the variable itself; if it is (the
``kerascnn`` package imports it on start-up), it runs itself again in a fresh process with the
variable set, passing the output and exit status through.
"""

from __future__ import annotations

import os
import subprocess
import sys

from kerascnn.commands.train import DETERMINISTIC_HELP, QUIET_HELP, print_metrics, progress_verbosity

LEGACY = "TF_USE_LEGACY_KERAS"
# (flag, dest) of every option, to run the same command again in a Keras 2 process
_OPTIONS = (("--data", "data"), ("--image-size", "image_size"), ("--weights", "weights"),
            ("--freeze", "freeze"), ("--scenario", "scenario"), ("--head-epochs", "head_epochs"),
            ("--epochs", "epochs"), ("--lr", "lr"), ("--fine-tune-lr", "fine_tune_lr"), ("--lr-mult", "lr_mult"),
            ("--batch-size", "batch_size"), ("--dropout", "dropout"), ("--validation-split", "validation_split"),
            ("--patience", "patience"), ("--limit", "limit"), ("--seed", "seed"), ("--out", "out"),
            ("--mixed-precision", "mixed_precision"))
_SWITCHES = (("--resume", "resume"), ("--overwrite", "overwrite"), ("--quiet", "quiet"),
             ("--deterministic", "deterministic"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="fine-tune a pretrained backbone (DaViT_T, ResNet50, ...) on an image folder",
        description="Build BACKBONE with a new head (pretrained weights, preprocessing inside the model), train "
                    "the head with the backbone frozen, then fine-tune with the --freeze plan at a lower learning "
                    "rate. Writes OUT/: config.json, history.csv, curves.png, confusion_matrix.png, "
                    "misclassified.png (two classes: roc.png, pr.png), metrics.json "
                    "and the best model.keras. Running the same command again resumes an interrupted run, in the "
                    "phase and epoch where it stopped. kecam backbones run on Keras 2 (TF_USE_LEGACY_KERAS=1 is set "
                    "automatically). See docs/transfer.md.")
    parser.add_argument("backbone", help="backbone name, e.g. DaViT_T, ResNet50, kecam:EfficientNetV2B0 "
                                         "(see kerascnn.transfer.list_backbones)")
    parser.add_argument("--data", required=True, help="a folder with one sub-folder per class, or train/ and test/ "
                                                      "folders of them (val/ optional), or any source of "
                                                      "`kerascnn train`")
    parser.add_argument("--image-size", type=int, default=None, metavar="N",
                        help="resize images to N x N (default: the backbone's own, e.g. 224)")
    parser.add_argument("--weights", default=None, help="imagenet (default), none, or a local .h5 file")
    parser.add_argument("--freeze", default=None, metavar="PLAN",
                        help="layers kept frozen while fine-tuning: none (default), all, first:N, until:LAYER, "
                             "fraction:F, last:N (train the last N), from:LAYER")
    parser.add_argument("--scenario", default=None,
                        help="little_data_similar_domain, little_data_different_domain, much_data_similar_domain "
                             "or much_data_different_domain: defaults for the options below")
    parser.add_argument("--head-epochs", type=int, default=None, help="epochs with the backbone frozen (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs after that (default 10)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of the head phase (default 1e-3)")
    parser.add_argument("--fine-tune-lr", type=float, default=None, help="learning rate after (default lr / 10)")
    parser.add_argument("--lr-mult", type=float, default=None,
                        help="backbone / head learning-rate ratio while fine-tuning (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 16)")
    parser.add_argument("--dropout", type=float, default=None, help="dropout before the head (default 0.3)")
    parser.add_argument("--validation-split", type=float, default=None,
                        help="fraction of the training part held out for validation (default 0.2)")
    parser.add_argument("--patience", type=int, default=None, help="early-stopping patience (default 7)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N images per split (quick trials)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--out", default=None, help="run directory (default runs/finetune-BACKBONE-DATA)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out with its own stored configuration")
    mode.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("--deterministic", action="store_true", help=DETERMINISTIC_HELP)
    parser.add_argument("--mixed-precision", default="float32", choices=("auto", "float32", "float16", "bfloat16"),
                        help="compute precision while training (variables stay float32); float32 by default, "
                             "auto: bfloat16 where the hardware has a fast path (docs/deploy.md)")
    parser.set_defaults(handler=run_finetune)


def _precision(flag: str) -> str:
    """``--mixed-precision``: ``auto`` resolved by :func:`kerascnn.deploy.resolve` (said on stdout)."""
    from kerascnn.deploy import resolve  # noqa: PLC0415

    choice = resolve(flag)
    if flag == "auto":
        print(f"--mixed-precision auto: {choice.precision} ({choice.reason})")
    return choice.precision


def _legacy_requested() -> bool:
    return os.environ.get(LEGACY, "").strip().lower() in ("1", "true", "yes")


def argv_of(args) -> list:
    """The command line that reproduces ``args`` (for the Keras 2 child process)."""
    argv = ["finetune", args.backbone]
    for flag, dest in _OPTIONS:
        value = getattr(args, dest)
        if value is not None:
            argv += [flag, str(value)]
    return argv + [flag for flag, dest in _SWITCHES if getattr(args, dest)]


def run_finetune(args) -> int:
    from kerascnn.transfer.catalogue import needs_legacy  # noqa: PLC0415 - reads no Keras

    if needs_legacy(args.backbone) and not _legacy_requested():
        if "tensorflow" not in sys.modules and "keras" not in sys.modules:
            os.environ[LEGACY] = "1"
        else:
            env = {**os.environ, LEGACY: "1"}
            return subprocess.run([sys.executable, "-m", "kerascnn.cli", *argv_of(args)], env=env,
                                  check=False).returncode
    return _finetune(args)


def _finetune(args) -> int:
    from kerascnn.transfer.finetune import fine_tune_run  # noqa: PLC0415 - Keras comes after the runtime choice

    options = {dest: getattr(args, dest) for _, dest in _OPTIONS if dest not in ("data", "out", "mixed_precision")}
    result = fine_tune_run(args.backbone, args.data, out=args.out, resume=args.resume, overwrite=args.overwrite,
                           verbose=progress_verbosity(args.quiet), mixed_precision=_precision(args.mixed_precision),
                           deterministic=args.deterministic, **options)
    if result.state == "complete":
        print_metrics(result.metrics)
    return 0
