"""The default recipe of `kerascnn train`: LeNet-5 on scikit-learn's digits, against an SVC baseline.

Run: python benchmarks/lenet_digits.py [--seeds 0 1 2] [any `kerascnn train` option as key=value]

Prints, for each seed, the test accuracy on the fixed stratified 25% split (450 images,
random_state=0), the number of test errors, the wall time of the training call (data,
build, fit, evaluation, plots) and of the whole process; then scikit-learn's
SVC(gamma=0.001) on the same split. The target is >= 99.3% (at most 3 errors of 450)
within 60 s on a 2-core machine. The 1-minute load average is printed too: other
processes on the machine make the time pessimistic.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

STARTED = time.time()


def svc_baseline() -> float:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    digits = load_digits()
    x = digits.images.reshape(len(digits.images), -1)
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0,
                                                        stratify=digits.target)
    return float(SVC(gamma=0.001).fit(x_train, y_train).score(x_test, y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("options", nargs="*", help="recipe overrides, e.g. epochs=40 augment=none")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from kerascnn.runtime import describe
    from kerascnn.train import DEFAULTS, train

    options = {}
    for item in args.options:
        key, value = item.split("=", 1)
        kind = type(DEFAULTS.get(key)) if DEFAULTS.get(key) is not None else str
        options[key] = kind(value) if kind in (int, float) else value
    print(f"runtime {describe()}; recipe {DEFAULTS} overridden by {options}")
    accuracies, times = [], []
    for seed in args.seeds:
        began = time.time()
        result = train("lenet5", "digits", out=tempfile.mkdtemp() + "/run", seed=seed, verbose=0,
                       log=lambda *_: None, **options)
        seconds = time.time() - began
        errors = round((1 - result.test_accuracy) * result.metrics["test_images"])
        print(f"seed {seed}: LeNet-5 test accuracy {result.test_accuracy:.2%} ({errors} errors of "
              f"{result.metrics['test_images']}), {result.metrics['epochs_run']} epochs, training call "
              f"{seconds:.1f} s, process so far {time.time() - STARTED:.1f} s, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        accuracies.append(result.test_accuracy)
        times.append(seconds)
    if len(accuracies) > 1:
        print(f"{len(accuracies)} seeds: mean test accuracy {sum(accuracies) / len(accuracies):.2%}, "
              f"lowest {min(accuracies):.2%}, {sum(a >= 0.993 for a in accuracies)} of {len(accuracies)} "
              f"reach 99.3%; training calls {min(times):.0f}-{max(times):.0f} s")
    print(f"SVC(gamma=0.001) on the same split: {svc_baseline():.2%}")


if __name__ == "__main__":
    main()
