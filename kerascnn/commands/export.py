"""``kerascnn export RUN --format FORMAT``: a run's best model for another runtime (kerascnn.deploy)."""

from __future__ import annotations

FORMAT_NAMES = ("keras", "savedmodel", "onnx", "litert")  # kerascnn.deploy.FORMATS, without importing Keras


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a run's best model as .keras, a TensorFlow SavedModel, ONNX or LiteRT",
        description="Export RUN/model.keras for serving: keras (a .keras file), savedmodel (a folder for "
                    "TF Serving / tf.saved_model.load), onnx (onnxruntime; needs pip install "
                    "'kerascnn[export]'), litert (a .tflite file for phones; TensorFlow backend). Written "
                    "atomically. See docs/deploy.md.",
    )
    parser.add_argument("run", help="a run directory written by `kerascnn train` or `kerascnn finetune`")
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES, help="the file format")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="file (folder for savedmodel) to write; default RUN/model.onnx, RUN/model.tflite, "
                             "RUN/model_savedmodel, RUN/model_export.keras")
    parser.add_argument("--optimize", action="store_true",
                        help="fold BatchNorm into the convolutions first (same outputs, faster)")
    parser.add_argument("--scaled-input", action="store_true",
                        help="a `kerascnn train` run only: export the model as trained, taking pixels scaled to "
                             "[0, 1]; by default the exported model takes pixels 0-255 and scales them itself")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                        help="with --optimize: compute precision of the exported model; default float32, since "
                             "the machine that runs it may not be this one (auto: this machine's)")
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    from kerascnn import runs  # noqa: PLC0415 - keep `kerascnn --help` free of TensorFlow
    from kerascnn.deploy import export, optimize  # noqa: PLC0415
    from kerascnn.deploy.exporter import default_path, taking_pixels  # noqa: PLC0415
    from kerascnn.train import image_scale, load_run_model  # noqa: PLC0415

    if args.precision != "float32" and not args.optimize:
        raise ValueError(f"--precision {args.precision} needs --optimize (without it the model is exported as trained).")
    run = runs.RunDirectory(args.run)
    model = load_run_model(run)
    note = "as trained"
    if args.optimize:
        model = optimize(model, precision=args.precision)
        note = model.deploy_info.describe()
    scale = image_scale(run.config()["recipe"])
    if scale == 1.0 and args.scaled_input:
        raise ValueError(f"--scaled-input: the model of {args.run!r} (a `kerascnn finetune` run) takes pixels 0-255 "
                         "and preprocesses them itself; leave out --scaled-input.")
    if scale != 1.0 and not args.scaled_input:
        model = taking_pixels(model, scale)
    shape = "x".join(str(side) for side in model.input_shape[1:])
    takes = "pixels scaled to [0, 1]" if scale != 1.0 and args.scaled_input else "pixels 0-255"
    out = args.out or default_path(args.run, args.format, "model_export" if args.format == "keras" else "model")
    path = export(model, out, args.format)
    print(f"kerascnn export: {path} ({args.format}; {note}; input: float32 {shape} {takes})")
    return 0
