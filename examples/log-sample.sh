#!/usr/bin/env bash
# A tour of `residency log` on a sample: create a log, append entries, prove
# one of them with an offline receipt, verify the receipt, verify the log.
#
#   bash examples/log-sample.sh [DIR]     (default: a fresh temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-$(mktemp -d)/sample-log}"
cargo build --quiet -p residency
residency() { target/debug/residency "$@"; }

echo "# residency log init --dir $dir --origin residency.example/sample"
vkey="$(residency log init --dir "$dir" --origin residency.example/sample)"
echo "verifier key: $vkey"

echo
echo "# residency log append --dir $dir examples/sample-entries.txt"
residency log append --dir "$dir" examples/sample-entries.txt

echo "# residency log prove --dir $dir --index 1"
residency log prove --dir "$dir" --index 1 | tee "$dir.receipt"

echo
echo "# residency log verify-receipt --vkey VKEY --entry <entry 1> $dir.receipt"
sed -n 2p examples/sample-entries.txt | tr -d '\n' > "$dir.entry"
residency log verify-receipt --vkey "$vkey" --entry "$dir.entry" "$dir.receipt"

echo
echo "# residency log verify --dir $dir"
residency log verify --dir "$dir"
