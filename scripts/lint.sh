#!/usr/bin/env bash
# ruff on the packages, tests/ and scripts/; mypy --strict on the packages and scripts/.
# tests/ are not type-checked yet (~130 findings, mostly look-ups into untyped JSON; issue 13.12).
# mypy cannot follow setuptools' editable finder (the root folders are mapped into `hubspoke_deploy`), so we lay out the
# package as symlinks in .typecheck/ and check it there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m ruff check orchestrator steps config api simulator verify tests scripts
rm -rf .typecheck && mkdir -p .typecheck/hubspoke_deploy
for f in api/*; do ln -s "../../$f" ".typecheck/hubspoke_deploy/$(basename "$f")"; done
for d in orchestrator steps config simulator verify; do ln -s "../../$d" ".typecheck/hubspoke_deploy/$d"; done
MYPYPATH=.typecheck "$PY" -m mypy --strict --no-incremental \
  -p hubspoke_deploy \
  ${MYPY_EXTRA:-}
MYPYPATH=.typecheck "$PY" -m mypy --strict --no-incremental --explicit-package-bases scripts
