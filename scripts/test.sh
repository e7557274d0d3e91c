#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs the package with
# its dev extra, installs Azurite (npm) for the blob state tests, runs pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/engine -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON_BIN=${PYTHON_BIN:-python3}
VENV=${VENV:-.venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON_BIN" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
bash scripts/install-azurite.sh >/dev/null
# pytest-randomly (dev extra) shuffles the order of every run, the CI's included, so the suite
# stays order-independent; the seed is printed first (replay: PYTEST_RANDOM_SEED=N).
# Most tests wait on simulated Azure latencies rather than burn CPU, so 4 workers on 2 cores
# roughly halve the wall time. PYTEST_WORKERS=0 runs everything in one process.
SEED=${PYTEST_RANDOM_SEED:-$("$VENV/bin/python" -c 'import random; print(random.randrange(2**31))')}
echo "test order: shuffled with seed $SEED (replay: PYTEST_RANDOM_SEED=$SEED scripts/test.sh)"
exec "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-4}" -p randomly --randomly-seed="$SEED" "$@"
