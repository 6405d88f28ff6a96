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

LEGACY = "TF_USE_LEGACY_KERAS"
# (flag, dest) of every option, to run the same command again in a Keras 2 process
_OPTIONS = (("--data", "data"), ("--image-size", "image_size"), ("--weights", "weights"),
            ("--freeze", "freeze"), ("--scenario", "scenario"), ("--head-epochs", "head_epochs"),
            ("--epochs", "epochs"), ("--lr", "lr"), ("--fine-tune-lr", "fine_tune_lr"), ("--lr-mult", "lr_mult"),
            ("--batch-size", "batch_size"), ("--dropout", "dropout"), ("--validation-split", "validation_split"),
            ("--patience", "patience"), ("--limit", "limit"), ("--seed", "seed"), ("--out", "out"),
            ("--mixed-precision", "mixed_precision"))
_SWITCHES = (("--overwrite", "overwrite"), ("--quiet", "quiet"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="fine-tune a pretrained backbone (DaViT_T, ResNet50, ...) on an image folder",
        description="Build BACKBONE with a new head (pretrained weights, preprocessing inside the model), train "
                    "the head with the backbone frozen, then fine-tune with the --freeze plan at a lower learning "
                    "rate. Writes OUT/: config.json, history.csv, curves.png, confusion_matrix.png, metrics.json "
                    "and the best model.keras. kecam backbones run on Keras 2 (TF_USE_LEGACY_KERAS=1 is set "
                    "automatically). See docs/transfer.md.")
    parser.add_argument("backbone", help="backbone name, e.g. DaViT_T, ResNet50, kecam:EfficientNetV2B0 "
                                         "(see kerascnn.transfer.list_backbones)")
    parser.add_argument("--data", required=True, help="a folder with one sub-folder per class (or any source of "
                                                      "`kerascnn train`)")
    parser.add_argument("--image-size", type=int, default=None, metavar="N",
                        help="resize images to N x N (default: the backbone's own, e.g. 224)")
    parser.add_argument("--weights", default="imagenet", help="imagenet (default), none, or a local .h5 file")
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
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--dropout", type=float, default=0.3, help="dropout before the head (default 0.3)")
    parser.add_argument("--validation-split", type=float, default=0.2,
                        help="fraction of the training part held out for validation (default 0.2)")
    parser.add_argument("--patience", type=int, default=7, help="early-stopping patience (default 7)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N images per split (quick trials)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default=None, help="run directory (default runs/finetune-BACKBONE-DATA)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--mixed-precision", default="float32", choices=("auto", "float32", "float16", "bfloat16"),
                        help="compute precision while training (variables stay float32); float32 by default, "
                             "auto: bfloat16 where the hardware has a fast path (docs/deploy.md)")
    parser.set_defaults(handler=run_finetune)


def _set_precision(flag: str) -> None:
    from kerascnn.deploy import resolve  # noqa: PLC0415
    from kerascnn.distribute import set_mixed_precision  # noqa: PLC0415

    choice = resolve(flag)
    set_mixed_precision(choice.precision)
    if flag == "auto":
        print(f"--mixed-precision auto: {choice.precision} ({choice.reason})")


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
    import time  # noqa: PLC0415

    from kerascnn import runs, transfer  # noqa: PLC0415 - Keras is imported here, after the runtime choice
    from kerascnn.callbacks import default_callbacks  # noqa: PLC0415
    from kerascnn.data import load_data  # noqa: PLC0415
    from kerascnn.plots import save_confusion_matrix, save_curves  # noqa: PLC0415
    from kerascnn.runtime import NAME, describe, keras  # noqa: PLC0415
    from kerascnn.train import evaluate_model  # noqa: PLC0415

    started = time.time()
    info = transfer.backbone_info(args.backbone)
    size = args.image_size or info.input_shape[0]
    input_shape = (size, size, 3)
    weights = None if args.weights.lower() == "none" else args.weights
    recipe = {key: getattr(args, key) for _, key in _OPTIONS if key != "out"}
    recipe.update(backbone=info.name, provider=info.provider, image_size=size)
    base_name = os.path.basename(os.path.normpath(str(args.data)))
    run = runs.RunDirectory(args.out or os.path.join("runs", f"finetune-{info.name}-{base_name}"))
    state = run.check(recipe, overwrite=args.overwrite)
    if state == "complete":
        print(f"{run.path} already holds a finished run; use --overwrite to train again or --out for a new run.")
        return 0
    keras.utils.set_random_seed(args.seed)
    data = load_data(args.data, input_shape, validation_split=args.validation_split, seed=args.seed,
                     limit=args.limit)
    data.scale = 1.0  # raw 0-255 pixels: the backbone's own preprocessing is inside the model
    classes = data.num_classes
    _set_precision(args.mixed_precision)
    model = transfer.build(info.name, num_classes=1 if classes == 2 else classes, input_shape=input_shape,
                           weights=weights, dropout=args.dropout)
    run.prepare(recipe, {"runtime": describe(), "keras": NAME, "class_names": data.class_names,
                         "data": data.describe(), "params": int(model.count_params())}, overwrite=True)
    print(f"kerascnn finetune: {info.name} ({info.provider}, {model.count_params():,} parameters) on "
          f"{data.describe()}; run directory {run.path}")
    validate = data.validation.count > 0
    callbacks = default_callbacks(monitor="val_loss" if validate else "loss", patience=args.patience,
                                  csv_path=run.file(runs.HISTORY), checkpoint_path=run.file(runs.MODEL))
    batch = args.batch_size
    history = transfer.fine_tune(
        model, data.train.batches(batch, shuffle=True, seed=args.seed),
        data.validation.batches(batch) if validate else None, head_epochs=args.head_epochs, epochs=args.epochs,
        unfreeze=args.freeze, lr=args.lr, fine_tune_lr=args.fine_tune_lr, lr_mult=args.lr_mult,
        scenario=args.scenario, callbacks=callbacks, verbose=0 if args.quiet else 1)
    metrics = evaluate_model(model, data, batch)
    save_curves(history.history, run.file(runs.CURVES), title=f"{info.name} on {base_name}")
    save_confusion_matrix(data.test.y, metrics.pop("predictions"), run.file(runs.CONFUSION),
                          class_names=data.class_names)
    monitor = history.history.get("val_loss") or history.history.get("loss") or [0.0]
    metrics.update(
        epochs_run=len(history.epoch), best_epoch=int(min(range(len(monitor)), key=monitor.__getitem__)),
        phases=[{**p, "trainable": vars(p["trainable"])} for p in history.phases],
        runtime=describe(), seconds=round(time.time() - started, 2))
    run.write_json(runs.METRICS, metrics)
    print(f"test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) on "
          f"{metrics['test_images']} test images after {metrics['epochs_run']} epochs; results in {run.path}/")
    return 0
