"""The PyTorch contender of benchmarks/precision.py: torchvision's ResNet-50 on the CPU.

Run with a Python that has torch and torchvision (not kerascnn's dependencies), e.g. a
separate venv: ``pip install torch==2.14.1 torchvision==0.29.1``. Channels-last memory
format; float32, and bfloat16 under ``torch.autocast("cpu")``. Inference under
``torch.inference_mode`` (float32 and bf16 traced + ``torch.jit.freeze``); ``--train``: one
SGD step (momentum 0.9, cross-entropy) per call. Same timing rule as kerascnn.bench:
contenders alternate, medians of ``--rounds`` after warm-up.

Usage::

    /work/venv-torch/bin/python benchmarks/torch_resnet50.py --batches 16
    /work/venv-torch/bin/python benchmarks/torch_resnet50.py --batches 16 --train
"""

import argparse
import json
import os
import statistics
import time

import torch
import torchvision


def alternate(contenders, rounds, warmup):
    for function in contenders.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in contenders}
    order = list(contenders)
    for index in range(rounds):
        for name in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def inference(batch, size):
    model = torchvision.models.resnet50().eval().to(memory_format=torch.channels_last)
    images = torch.randn(batch, 3, size, size).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        fp32 = torch.jit.freeze(torch.jit.trace(model, images))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = torch.jit.freeze(torch.jit.trace(model, images))

    def run(function, autocast):
        def call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                function(images)
        return call

    return {"torch fp32 eager": run(model, False), "torch fp32 jit.freeze": run(fp32, False),
            "torch bf16 autocast eager": run(model, True), "torch bf16 autocast jit.freeze": run(bf16, True)}


def training(batch, size):
    contenders = {}
    for label, autocast in (("torch fp32", False), ("torch bf16 autocast", True)):
        model = torchvision.models.resnet50().train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        images = torch.randn(batch, 3, size, size).to(memory_format=torch.channels_last)
        labels = torch.randint(0, 1000, (batch,))

        def step(model=model, optimizer=optimizer, images=images, labels=labels, autocast=autocast):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()

        contenders[label] = step
    return contenders


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", nargs="+", type=int, default=[16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}, "
          f"oneDNN bf16 supported: {torch.backends.mkldnn.is_available()}", flush=True)
    for batch in args.batches:
        contenders = (training if args.train else inference)(batch, args.size)
        medians = alternate(contenders, args.rounds, warmup=2)
        for name, seconds in medians.items():
            print(json.dumps({"model": f"{'train' if args.train else 'infer'} torchvision resnet50", "batch": batch,
                              "contender": name, "images_per_s": round(batch / seconds, 2),
                              "load_average": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
