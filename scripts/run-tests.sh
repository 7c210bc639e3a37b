#!/usr/bin/env bash
# Runs the whole pytest suite. pytest exits 5 when it collected no test: for us that is a
# broken suite, not a pass, so it is reported and turned into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "run-tests: pytest collected no tests; the suite is broken" >&2
  exit 1
fi
exit $rc
