#!/usr/bin/env bash
# The full test tier (the README's test command; .ci/run runs it): every test, those marked
# `full` included (-m ""), once per runtime, each runtime in pytest processes of its own:
#   Keras 3 on TensorFlow (every test but the Keras 2 ones), in two parts: the model zoo
#     (tests/models, the registry sweep, the zoo's surgery) and everything else
#   Keras 2 via tf-keras, TF_USE_LEGACY_KERAS=1 (tests marked every_runtime, keras2, legacy_only)
#   Keras 3 on JAX, KERAS_BACKEND=jax (tests marked every_runtime)
# A plain `pytest` is the fast tier instead (see tests/conftest.py and CONTRIBUTING.md).
#
# KERASCNN_TEST_JOBS (default 3): how many of these four jobs run at once; each starts as soon
# as a slot is free, the longest first. Most of the suite's time is single-threaded Python and
# graph building, so on 2 cores three jobs side by side keep both cores busy, and the fourth
# keeps them busy at the end instead of one job finishing alone (docs/testing.md). A fourth job
# at once ran the 24 GiB machine out of memory. Each job's output is shown when it ends; with
# KERASCNN_TEST_JOBS=1 it streams live. Ends with one line adding the jobs up. Extra arguments
# go to every pytest run.
set -u
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
# the first process to import a module caches its bytecode (and pytest its rewritten tests) for the
# dozens of processes after it, where the machine sets PYTHONDONTWRITEBYTECODE (ours do)
unset PYTHONDONTWRITEBYTECODE
python=${PYTHON:-python}
jobs=${KERASCNN_TEST_JOBS:-3}

# the two TF parts are sized so that the shorter one, started last, ends with the others (docs/testing.md)
zoo=(tests/models tests/test_registry.py tests/test_surgery_zoo.py)
not_zoo=(tests --ignore=tests/models --ignore=tests/test_registry.py --ignore=tests/test_surgery_zoo.py)
tensorflow="KERAS_BACKEND=tensorflow TF_USE_LEGACY_KERAS=0"
# one job a line: label | runtime variables | what pytest collects (longest first)
labels=("keras3 / tensorflow (all but the zoo)" "keras2 / tf-keras" "keras3 / jax" "keras3 / tensorflow (zoo)")
runtimes=("$tensorflow" "KERAS_BACKEND=tensorflow TF_USE_LEGACY_KERAS=1" "KERAS_BACKEND=jax TF_USE_LEGACY_KERAS=0"
          "$tensorflow")
selections=("${not_zoo[*]}" "tests" "tests" "${zoo[*]}")
count=${#labels[@]}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# reference files that one runtime's run makes and the others reuse (tests/models/zoo_helpers.py)
export KERASCNN_TEST_CACHE="$logs/cache"
started=$SECONDS

run() {  # run INDEX: one job's pytest, its output in $logs/INDEX.log, its exit status in $logs/INDEX.rc
    local i=$1 begin=$SECONDS
    # shellcheck disable=SC2086 - the runtime's variables and the selection are words
    # -n 0: no xdist workers; the jobs side by side already fill the cores
    env ${runtimes[$i]} "$python" -m pytest -p no:cacheprovider -m "" -n 0 ${selections[$i]} "${PYTEST_ARGS[@]}" \
        > "$logs/$i.log" 2>&1
    echo $? > "$logs/$i.rc"
    echo $((SECONDS - begin)) > "$logs/$i.seconds"
}

show() {  # show INDEX: print a finished job's output and add up its counts
    local i=$1 line p f e rc
    if [ "$jobs" -gt 1 ]; then  # with one job at a time, run's output was streamed already
        echo "=== runtime: ${labels[$i]} ==="
        cat "$logs/$i.log"
    fi
    rc=$(cat "$logs/$i.rc")
    line=$(grep -E "[0-9]+ (passed|failed|errors?|deselected).* in [0-9.]+s" "$logs/$i.log" | tail -1)
    p=$(echo "$line" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+" || echo 0)
    f=$(echo "$line" | grep -oE "[0-9]+ failed" | grep -oE "[0-9]+" || echo 0)
    e=$(echo "$line" | grep -oE "[0-9]+ errors?" | grep -oE "[0-9]+" || echo 0)
    echo "=== ${labels[$i]}: ${p:-0} passed, ${f:-0} failed, ${e:-0} errors (pytest exit $rc, $(cat "$logs/$i.seconds")s) ==="
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ]; then status=1; fi
}

PYTEST_ARGS=("$@")
passed=0; failed=0; status=0
if [ "$jobs" -le 1 ]; then
    for ((i = 0; i < count; i++)); do
        echo "=== runtime: ${labels[$i]} ==="
        run "$i" &
        tail --pid=$! -n +1 -F "$logs/$i.log" 2>/dev/null
        wait
        show "$i"
    done
else
    # each slot takes the next job as soon as it is free
    declare -A running=()
    next=0; shown=0
    while [ "$shown" -lt "$count" ]; do
        while [ "$next" -lt "$count" ] && [ "${#running[@]}" -lt "$jobs" ]; do
            run "$next" & running[$next]=$!
            next=$((next + 1))
        done
        wait -n
        for i in "${!running[@]}"; do
            if [ -f "$logs/$i.rc" ]; then
                wait "${running[$i]}"; unset "running[$i]"
                show "$i"; shown=$((shown + 1))
            fi
        done
    done
fi
echo "all jobs: $((SECONDS - started))s, $jobs at once"
echo "total: $passed passed, $failed failed"  # alone on its line: the form CI reads
exit $status
