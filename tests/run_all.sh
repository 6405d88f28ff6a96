#!/usr/bin/env bash
# Runs the test suite once per runtime, each in its own pytest process:
#   1. Keras 3 on TensorFlow (all tests)
#   2. Keras 2 via tf-keras, TF_USE_LEGACY_KERAS=1 (every test that applies)
#   3. Keras 3 on JAX, KERAS_BACKEND=jax (builders and training tests)
# and ends with one line adding them up. Extra arguments go to every pytest run.
set -u
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
python=${PYTHON:-python}
passed=0; failed=0; status=0
run() {
    local label=$1; shift
    echo "=== runtime: $label ==="
    local log
    log=$(mktemp)
    env "$@" "$python" -m pytest -p no:cacheprovider "${PYTEST_ARGS[@]}" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E "[0-9]+ (passed|failed|errors?|deselected).* in [0-9.]+s" "$log" | tail -1)
    local p f e
    p=$(echo "$line" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+" || echo 0)
    f=$(echo "$line" | grep -oE "[0-9]+ failed" | grep -oE "[0-9]+" || echo 0)
    e=$(echo "$line" | grep -oE "[0-9]+ errors?" | grep -oE "[0-9]+" || echo 0)
    echo "=== $label: ${p:-0} passed, ${f:-0} failed, ${e:-0} errors (pytest exit $rc) ==="
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ]; then status=1; fi
    rm -f "$log"
}
PYTEST_ARGS=("$@")
run "keras3 / tensorflow" KERAS_BACKEND=tensorflow TF_USE_LEGACY_KERAS=0
run "keras2 / tf-keras" KERAS_BACKEND=tensorflow TF_USE_LEGACY_KERAS=1
run "keras3 / jax" KERAS_BACKEND=jax TF_USE_LEGACY_KERAS=0
echo "total: $passed passed, $failed failed"
exit $status
