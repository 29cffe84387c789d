#!/usr/bin/env bash
# One line for a long set-up step: the command's own output goes to a log file, a terminal sees
# the seconds go by, and a failure shows the end of that log and where the rest is.
#
# Usage: scripts/step.sh "what is being done" LOG_FILE command [argument ...]
# (tiepdan/console.py does the same for the steps of `tiepdan run`.)
set -uo pipefail

label=$1
log=$2
shift 2
mkdir -p "$(dirname "$log")"
started=$SECONDS

"$@" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM

if [[ -t 1 ]]; then
    width=$(($(tput cols 2>/dev/null || echo 80) - ${#label} - 16))
    while kill -0 "$pid" 2>/dev/null; do
        # The command's last line is its progress ("Collecting torch ...").
        last=$(tail -n 1 "$log" 2>/dev/null | tr -d '\r' | cut -c "1-$((width > 0 ? width : 1))")
        printf '\r\033[K  … %s  %d s  %s' "$label" $((SECONDS - started)) "$last"
        sleep 0.5
    done
    printf '\r\033[K'
else
    printf '  … %s' "$label"
fi
wait "$pid"
status=$?
elapsed=$((SECONDS - started))

if ((status != 0)); then
    [[ -t 1 ]] || printf '\n'
    printf '  ✗ %s failed after %d s (exit status %d). The end of %s:\n' \
        "$label" "$elapsed" "$status" "$log"
    tail -n 25 "$log" | sed 's/^/    /'
    exit "$status"
fi
if [[ -t 1 ]]; then
    printf '  ✓ %s (%d s)\n' "$label" "$elapsed"
else
    printf ' done (%d s)\n' "$elapsed"
fi
