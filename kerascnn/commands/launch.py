"""``kerascnn launch --nproc N -- train ...``: try multi-process training on one machine.

Starts N ``kerascnn`` processes on 127.0.0.1 with a free coordinator port, each with
``KERASCNN_COORDINATOR``, ``KERASCNN_NUM_PROCESSES``, ``KERASCNN_PROCESS_ID`` (and, on
Keras 2, a ``TF_CONFIG`` naming N free ports) in its environment, adds
``--distribute multiworker`` to ``train`` when it is missing, and prefixes every output
line with ``[N]``. When one process fails, the others are terminated (then killed after
``--grace`` seconds) and ``launch`` exits with the first failure's status.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def register(subparsers) -> None:
    launch = subparsers.add_parser(
        "launch", help="run N local processes of a kerascnn command (multi-process training on one machine)",
        description="Start N processes of `kerascnn COMMAND ...` on 127.0.0.1 with the coordinator address, "
                    "process count and process id in their environment; stop them all when one fails. "
                    "Example: kerascnn launch --nproc 2 -- train lenet5 --epochs 2",
    )
    launch.add_argument("--nproc", type=int, default=2, help="number of processes (default 2)")
    launch.add_argument("--port", type=int, default=None, help="coordinator port (default: a free one)")
    launch.add_argument("--grace", type=float, default=10.0,
                        help="seconds between terminating and killing the survivors of a failure (default 10)")
    launch.add_argument("argv", nargs=argparse_remainder(), metavar="-- COMMAND ...",
                        help="the kerascnn command each process runs, e.g. train lenet5 --epochs 2")
    launch.set_defaults(handler=run_launch)


def argparse_remainder():
    import argparse  # noqa: PLC0415

    return argparse.REMAINDER


def free_ports(count: int = 1) -> list:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_environments(nproc: int, port: int | None = None, base=None) -> list:
    """One environment per process: the coordinator, the count, the id, and a Keras 2 TF_CONFIG."""
    base = dict(os.environ if base is None else base)
    ports = free_ports(nproc)
    if port is not None:
        ports[0] = port
    coordinator = f"127.0.0.1:{ports[0]}"
    workers = [f"127.0.0.1:{p}" for p in ports]
    environments = []
    for index in range(nproc):
        env = {**base, "KERASCNN_COORDINATOR": coordinator, "KERASCNN_NUM_PROCESSES": str(nproc),
               "KERASCNN_PROCESS_ID": str(index), "PYTHONUNBUFFERED": "1"}
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        environments.append(env)
    return environments


def _pump(index: int, stream, lock) -> None:
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(f"[{index}] {line.decode(errors='replace')}")
            sys.stdout.flush()
    stream.close()


def run_launch(args) -> int:
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ValueError("give the command to run after --, e.g. kerascnn launch --nproc 2 -- train lenet5")
    if args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}.")
    if argv[0] == "train" and not any(a == "--distribute" or a.startswith("--distribute=") for a in argv):
        argv += ["--distribute", "multiworker"]
    return supervise([sys.executable, "-m", "kerascnn.cli", *argv],
                     worker_environments(args.nproc, args.port), grace=args.grace)


def supervise(command: list, environments: list, grace: float = 10.0) -> int:
    """Run ``command`` once per environment; return 0, or the first failure's exit status.

    When a process exits non-zero (or is killed), every other one gets SIGTERM, then
    SIGKILL after ``grace`` seconds, so a failure never leaves the rest hanging.
    """
    lock = threading.Lock()
    processes, pumps = [], []
    for index, env in enumerate(environments):
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        pump = threading.Thread(target=_pump, args=(index, process.stdout, lock), daemon=True)
        pump.start()
        processes.append(process)
        pumps.append(pump)
    status = 0
    failed = None
    try:
        while any(process.poll() is None for process in processes):
            for index, process in enumerate(processes):
                code = process.poll()
                if code not in (None, 0) and failed is None:
                    failed, status = index, _exit_status(code)
            if failed is not None:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        failed, status = -1, 130
    if failed is not None:
        if failed >= 0:
            print(f"kerascnn launch: process {failed} failed (exit status {processes[failed].returncode}); "
                  "stopping the others", file=sys.stderr)
        _stop(processes, grace)
    for process in processes:
        process.wait()
        if status == 0 and process.returncode != 0:
            status = _exit_status(process.returncode)
    for pump in pumps:
        pump.join(timeout=5)
    return status


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by signal N -> 128 + N, like a shell


def _stop(processes, grace: float) -> None:
    for process in processes:
        if process.poll() is None:
            _signal(process, signal.SIGTERM)
    deadline = time.time() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)


def _signal(process, number) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass
