"""``kerascnn train``, ``kerascnn evaluate`` and ``kerascnn predict``: the main job from the shell."""

from __future__ import annotations

import argparse
import json
import sys

from kerascnn import _startup

RECIPE_FLAGS = ("epochs", "batch_size", "learning_rate", "optimizer", "schedule", "augment",
                "validation_split", "patience", "image_size", "label_mode", "limit", "label_smoothing")
#: ``--quiet``'s help, for every training command (see :func:`progress_verbosity`)
QUIET_HELP = "no progress bars (without it: a live bar on a terminal, one line per epoch into a file or a pipe)"
DETERMINISTIC_HELP = ("the same --seed gives the same run, bit for bit (TensorFlow's op determinism; "
                      "slower: 10-35%% on the default job)")
SCALING_FLAGS = ("mixed_precision", "jit_compile", "distribute", "coordinator", "num_processes", "process_id")


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a model (LeNet-5 on the embedded digits by default) into a run directory",
        description="Train a registered model and write runs/NAME: config.json, history.csv, curves.png, "
                    "confusion_matrix.png, misclassified.png (two classes: roc.png, pr.png), "
                    "metrics.json and the best model.keras. Running the same command "
                    "again resumes an interrupted run. Flags left out take the default recipe "
                    "(see docs/training.md).",
    )
    train.add_argument("model", nargs="?", default="lenet5", help="registered model name (default lenet5)")
    train.add_argument("--data", default="digits",
                       help="digits (default), mnist, fashion_mnist, cifar10, cifar100, a folder with one "
                            "sub-folder per class (or train/ and test/ folders of them, val/ optional), or an .npz "
                            "file (x_train, y_train, x_test, y_test)")
    train.add_argument("--epochs", type=int, default=None, help="epochs (default 60)")
    train.add_argument("--batch-size", type=int, default=None, help="batch size (default 32)")
    train.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, default=None,
                       help="peak learning rate (default 0.003)")
    train.add_argument("--optimizer", default=None, help="adam (default), adamw, sgd, rmsprop, nadam, ...")
    train.add_argument("--schedule", default=None, choices=("cosine", "plateau", "constant"),
                       help="learning-rate schedule: cosine with 2 warm-up epochs (default), plateau "
                            "(ReduceLROnPlateau), constant")
    train.add_argument("--image-size", type=_size, default=None, metavar="H[,W]",
                       help="resize images to H x W (default: the model's input size)")
    train.add_argument("--augment", default=None,
                       help="none, mild (default: rotation, zoom, translation), standard (mild + horizontal "
                            "flips), or e.g. rotation=0.05,zoom=0.1,translation=0.1,flip=horizontal")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--validation-split", type=float, default=None,
                       help="fraction of the training part held out for validation (default 0: none)")
    train.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without validation improvement (default: off)")
    train.add_argument("--label-mode", default="int", choices=("int", "categorical"),
                       help="integer labels (default) or one-hot with categorical cross-entropy")
    train.add_argument("--label-smoothing", type=float, default=None,
                       help="label smoothing in [0, 1) (default 0); > 0 trains on one-hot labels")
    train.add_argument("--limit", type=int, default=None, help="use at most N images per split (quick trials)")
    train.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATA)")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out with its own stored configuration")
    mode.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    train.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to OUT/tensorboard")
    train.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    train.add_argument("--deterministic", action="store_true", help=DETERMINISTIC_HELP)
    scaling = train.add_argument_group("scaling (see docs/scaling.md)")
    scaling.add_argument("--mixed-precision", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                         help="compute in float16 (GPUs) or bfloat16 (TPUs, recent GPUs and CPUs); variables and "
                              "the final activation stay float32. auto (default): bfloat16 where the hardware has "
                              "a fast path and the model is large enough to gain (see docs/deploy.md), else float32")
    scaling.add_argument("--jit-compile", action="store_true", default=None, help="compile train steps with XLA")
    scaling.add_argument("--distribute", default="none", choices=("none", "mirrored", "multiworker"),
                         help="none (default); mirrored: tf.distribute.MirroredStrategy over the local GPUs; "
                              "multiworker: several processes (Keras 3: JAX backend + keras.distribution; "
                              "Keras 2: MultiWorkerMirroredStrategy). --batch-size is the global batch")
    scaling.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                         help="multiworker: address of process 0 (default $KERASCNN_COORDINATOR or "
                              "$JAX_COORDINATOR_ADDRESS; Keras 2: also TF_CONFIG)")
    scaling.add_argument("--num-processes", type=int, default=None,
                         help="multiworker: number of processes (default $KERASCNN_NUM_PROCESSES)")
    scaling.add_argument("--process-id", type=int, default=None,
                         help="multiworker: this process' index, 0 = chief (default $KERASCNN_PROCESS_ID)")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="evaluate a run's best model on a test split",
        description="Load RUN/model.keras and report test loss, accuracy and per-class precision/recall.",
    )
    evaluate.add_argument("run", help="a run directory written by `kerascnn train`")
    evaluate.add_argument("--data", default=None, help="data source (default: the run's own data)")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--limit", type=int, default=None, help="use at most N test images")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_inference_flags(evaluate)
    evaluate.add_argument("--compare-fp32", action="store_true",
                          help="also evaluate the unchanged float32 model and report both accuracies and "
                               "how often their top-1 classes agree")
    evaluate.set_defaults(handler=run_evaluate)

    predict = subparsers.add_parser(
        "predict", help="classify image files with a run's best model (top-k with probabilities)",
        description="Print the top-k classes and probabilities for each image file.",
    )
    predict.add_argument("run", help="a run directory written by `kerascnn train`")
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="image files (png, jpg, bmp, gif) or folders (every image under them)")
    predict.add_argument("--top-k", type=int, default=3, help="classes to show per image (default 3)")
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    add_inference_flags(predict)
    predict.set_defaults(handler=run_predict)


def add_inference_flags(parser) -> None:
    """``--precision`` and ``--no-optimize``: how an inference command runs the model (kerascnn.deploy)."""
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="compute precision of the optimized model; auto (default) picks bfloat16 where "
                             "the hardware has a fast path (AMX / AVX-512 BF16 CPUs, GPUs >= 8.0), else "
                             "float32 (see docs/deploy.md)")
    parser.add_argument("--no-optimize", dest="optimize", action="store_false",
                        help="run the model as trained: no BatchNorm folding, float32")


def inference_transform(args, seen: list):
    """The ``transform`` for kerascnn.train.evaluate/predict, keeping the model's deploy_info in ``seen``."""
    from kerascnn.deploy import for_evaluation  # noqa: PLC0415

    def transform(net):
        fast = for_evaluation(net, precision=args.precision, enabled=args.optimize)
        seen.append(getattr(fast, "deploy_info", None))
        return fast

    return transform


def mixed_precision(flag: str):
    """The ``mixed_precision`` argument of kerascnn.train for ``--mixed-precision flag``: None for
    float32; ``"auto"`` is decided by kerascnn.train once any distribution strategy has started."""
    return None if flag == "float32" else flag


def _size(text: str):
    try:
        values = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected H or H,W such as 32 or 64,48, got {text!r}")
    return values * 2 if len(values) == 1 else values


def progress_verbosity(quiet: bool) -> int:
    """Keras' ``verbose`` for a training command: 0 with ``--quiet``; the live progress bar (1) on a
    terminal; one line per epoch (2) when the output goes to a file or a pipe (``nohup``, a batch
    job's log), where Keras 3's bar would write its colour codes and carriage returns (it takes every
    Linux process for a terminal) and Keras 2's its backspaces.

    Examples:
        >>> progress_verbosity(quiet=True)
        0
    """
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def run_train(args) -> int:
    from kerascnn.train import train  # noqa: PLC0415 - keep `kerascnn --help` free of TensorFlow

    options = {name: getattr(args, name) for name in RECIPE_FLAGS}
    scaling = {name: getattr(args, name) for name in SCALING_FLAGS}
    scaling["mixed_precision"] = mixed_precision(args.mixed_precision)
    result = train(args.model, args.data, out=args.out, resume=args.resume, overwrite=args.overwrite,
                   tensorboard=args.tensorboard, verbose=progress_verbosity(args.quiet), seed=args.seed,
                   deterministic=args.deterministic, **options, **scaling)
    if result.state == "complete":
        print_metrics(result.metrics)
    return 0


def print_metrics(metrics) -> None:
    """The test metrics of a run as a table (``kerascnn evaluate``, a finished run)."""
    print(f"test accuracy {metrics['test_accuracy']:.2%}, loss {metrics['test_loss']:.4f} "
          f"({metrics['test_images']} images)")
    print(f"{'class':<16} {'precision':>9} {'recall':>7} {'support':>8}")
    for name, row in metrics["per_class"].items():
        print(f"{name[:16]:<16} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['support']:>8}")


def run_evaluate(args) -> int:
    _startup.declare_inference_only()
    from kerascnn.train import evaluate  # noqa: PLC0415

    seen = []
    metrics = evaluate(args.run, args.data, batch_size=args.batch_size, limit=args.limit,
                       transform=inference_transform(args, seen))
    info = seen[0]
    metrics["inference"] = info.as_dict() if info else {"precision": "float32", "reason": "--no-optimize"}
    if args.compare_fp32:
        reference = evaluate(args.run, args.data, batch_size=args.batch_size, limit=args.limit)
        metrics["float32_test_accuracy"] = reference["test_accuracy"]
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"inference: {info.describe() if info else 'float32, as trained (--no-optimize)'}")
    print_metrics(metrics)
    if args.compare_fp32:
        print(f"float32 model as trained: test accuracy {metrics['float32_test_accuracy']:.2%}; "
              f"{metrics['inference']['precision']} optimized: {metrics['test_accuracy']:.2%}")
    return 0


def run_predict(args) -> int:
    _startup.declare_inference_only()
    from kerascnn.train import predict  # noqa: PLC0415

    results = predict(args.run, args.images, top_k=args.top_k, transform=inference_transform(args, []))
    if args.json:
        print(json.dumps([{"image": path, "top": [{"class": c, "probability": p} for c, p in top]}
                          for path, top in results], indent=2))
        return 0
    for path, top in results:
        print(f"{path}: " + ", ".join(f"{name} {probability:.1%}" for name, probability in top))
    return 0
