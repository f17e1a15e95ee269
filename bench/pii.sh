#!/usr/bin/env bash
# PII detection + redaction, side by side with Microsoft Presidio in one run,
# and keyed-token throughput. Creates a virtualenv with presidio-analyzer
# (from PyPI) on first use.
#
#   bash bench/pii.sh          (env: RECORDS, PRESIDIO_RECORDS, PRESIDIO_VENV)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${PRESIDIO_VENV:-$PWD/target/presidio-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import presidio_analyzer" 2>/dev/null; then
  echo "creating $venv with presidio-analyzer (first run only)…" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet presidio-analyzer
fi
"$venv/bin/python" -c "import presidio_analyzer, importlib.metadata as m; print('presidio-analyzer', m.version('presidio-analyzer'))"

PRESIDIO_PYTHON="$venv/bin/python" cargo bench -p pseudo --bench pii
cargo bench -p pseudo --bench tokens
