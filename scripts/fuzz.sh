#!/usr/bin/env bash
# Runs every fuzz target in the repository for FUZZTIME (default 5s) each.
# Each target's seed corpus (f.Add plus testdata/fuzz/<Name>/) always runs
# as part of `go test`; this adds a short randomized run on top.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"
status=0
while IFS= read -r line; do
	file="${line%%:*}"
	name="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")"
	pkg="./$(dirname "$file")"
	echo "== fuzz $pkg $name ($fuzztime)"
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/fuzz-"$name".log 2>&1; then
		cat /tmp/fuzz-"$name".log
		status=1
	else
		tail -1 /tmp/fuzz-"$name".log
	fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
exit $status
