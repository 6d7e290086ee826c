#!/usr/bin/env bash
# Refreshes the in-repo copy of the conformance corpus (tests-data/conformance/)
# from ../shared/conformance/ (next to the workspace root). The test harness
# reads both; this copy keeps the suite runnable where ../shared is absent.
# known-failures.txt is ours and is left alone.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${1:-"$root/../shared/conformance"}
dst="$root/tests-data/conformance"

if [ ! -d "$src/cases" ]; then
  echo "error: $src/cases not found" >&2
  exit 1
fi

mkdir -p "$dst/cases"
# Mirror the cases exactly: a case removed upstream disappears here too.
rm -f "$dst"/cases/*.json
cp "$src"/cases/*.json "$dst/cases/"
cp "$src/README.md" "$dst/README.md"
touch "$dst/known-failures.txt"

echo "copied $(ls "$dst/cases" | wc -l) cases and README.md into ${dst#"$root"/}"
