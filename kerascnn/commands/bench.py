"""``kerascnn bench MODEL``: inference and training-step speed of one model on this machine.

Prints the machine's fp32 matrix-product rate, then for each batch size the images/s of
kerascnn's model and (for ResNet-50/101/152 and VGG-16/19) keras.applications' model of
the same architecture, measured alternately after warm-up, with the achieved GFLOP/s as a
fraction of the matrix-product rate and the load average. Keras is imported only when the
command runs.
"""

from __future__ import annotations

from kerascnn import _startup


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure a model's inference and training images/s against keras.applications",
        description="Measure a registered model's inference (predict_on_batch) and training-step "
                    "(train_on_batch, SGD) images/s on this machine, alternately with keras.applications' "
                    "model of the same architecture where one exists; print achieved GFLOP/s as a fraction "
                    "of the machine's fp32 matrix-product rate. Medians of alternating rounds after warm-up.",
    )
    parser.add_argument("model", help="a registered model name (see `kerascnn list`)")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16], metavar="N",
                        help="batch sizes, default 1 16")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians over them), default 3")
    parser.add_argument("--size", type=int, default=None, metavar="PIXELS",
                        help="input height and width (default: the model's)")
    parser.add_argument("--xla", action="store_true", help="compile with XLA (jit_compile=True; TensorFlow)")
    parser.add_argument("--fold", action="store_true",
                        help="also time inference with BatchNorm folded into the convolutions "
                             "(kerascnn.surgery.fold_batchnorm), the fastest inference form")
    parser.add_argument("--precisions", nargs="+", default=["auto"], metavar="P",
                        choices=("auto", "none", "float32", "bfloat16", "float16"),
                        help="kerascnn.deploy.optimize contenders (folded, computing in P): auto (default: the "
                             "precision this machine's rule picks for the model), bfloat16, float16, float32, "
                             "or none; their fraction is of the matrix-product rate in that precision")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="inference only; lets oneDNN cache the weights (TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1), "
                             "which a process that trains must not")
    parser.add_argument("--matmul-size", type=int, default=4096, metavar="N",
                        help="side of the square matrices of the rate probe, default 4096")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON")
    parser.set_defaults(handler=run_bench)


def _precisions(args, bench) -> tuple:
    """The optimize contenders' precisions, and the matrix-product rate of each lower one (printed)."""
    import kerascnn  # noqa: PLC0415
    from kerascnn import deploy, runtime  # noqa: PLC0415

    precisions = []
    for asked in args.precisions:
        if asked == "auto":
            model = kerascnn.build(args.model, input_shape=bench.input_shape(args.model, args.size), compile=False)
            choice = deploy.resolve("auto", gmacs=bench.model_gflop(model) / 2)
            print(f"precision auto: {choice.precision} ({choice.reason}) on {deploy.detect().describe()}")
            asked = choice.precision
        if asked != "none" and asked not in precisions:
            precisions.append(asked)
    peaks = {}
    for precision in precisions:
        if precision != "float32" and runtime.BACKEND == "tensorflow":
            peaks[precision] = bench.matmul_gflops(args.matmul_size, library="tensorflow", dtype=precision)
            print(f"matrix product (TensorFlow {precision} {args.matmul_size}^3): {peaks[precision]:.1f} GFLOP/s "
                  f"(load {bench.load_average()})", flush=True)
    return precisions, peaks


def run_bench(args) -> int:
    cached_weights = not args.train and _startup.declare_inference_only()
    import kerascnn  # noqa: PLC0415 - keep `kerascnn --help` free of TensorFlow
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.errors import unknown_name_error  # noqa: PLC0415

    if args.model not in kerascnn.list_models():
        raise unknown_name_error("model", args.model, kerascnn.list_models())
    for argument, values in (("--batches", args.batches), ("--rounds", [args.rounds]),
                             ("--matmul-size", [args.matmul_size])):
        if any(v < 1 for v in values):
            raise ValueError(f"{argument} must be positive integers, got {values}.")
    if args.size is not None and args.size < 1:
        raise ValueError(f"--size must be a positive number of pixels, got {args.size}.")
    peak = bench.matmul_gflops(args.matmul_size, library="numpy")
    print(f"matrix product (NumPy fp32 {args.matmul_size}^3): {peak:.1f} GFLOP/s (load {bench.load_average()})",
          flush=True)
    precisions, peaks = _precisions(args, bench)
    result = bench.bench_model(args.model, batches=args.batches, rounds=args.rounds, input_size=args.size,
                               xla=args.xla, train=args.train, peak=peak, fold=args.fold, precisions=precisions,
                               peaks=peaks)
    conditions = result["conditions"]
    print(f"{conditions['runtime']} ({conditions['backend']}), {conditions['cpu']} x{conditions['cpu_count']}, "
          f"load {conditions['load_average']}; medians of {args.rounds} alternating rounds; "
          f"training counted as 3 forward passes; oneDNN weight caching "
          f"{'on (inference only)' if cached_weights else 'off'}")
    if not cached_weights and args.train and conditions["backend"] == "tensorflow":
        print("inference here recomputes oneDNN's weight layout every call (the process also trains); "
              "`--no-train` measures inference as `kerascnn evaluate`/`predict` run it")
    if args.json:
        bench.write_json(args.json, result)
    return 0
