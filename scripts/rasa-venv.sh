#!/usr/bin/env bash
# Create the Python 3.10 virtualenv Rasa 3.6 needs (Rasa does not run on 3.11).
#
# Usage: scripts/rasa-venv.sh [VENV_DIR]   (default ~/.cache/tiepdan/venv-rasa, outside the clone)
# Python 3.10 is looked for on PATH (python3.10), then in pyenv; set PYTHON310=/path/to/python3.10
# to choose one. Versions are pinned by bot/rasa/constraints.txt.
set -euo pipefail

venv="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/tiepdan/venv-rasa}"
here="$(cd "$(dirname "$0")/.." && pwd)"
constraints="$here/bot/rasa/constraints.txt"

find_python310() {
    if [[ -n "${PYTHON310:-}" ]]; then echo "$PYTHON310"; return; fi
    local candidate
    for candidate in python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local version
        version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -V | tail -1 || true)"
        if [[ -n "$version" ]]; then echo "$(pyenv root)/versions/$version/bin/python3.10"; return; fi
    fi
    return 1
}

if [[ -x "$venv/bin/rasa" ]] && cmp -s "$constraints" "$venv/.constraints" 2>/dev/null; then
    exit 0  # already installed with these pins
fi
if ! python310="$(find_python310)"; then
    echo "Rasa 3.6 needs Python 3.10, and none was found on PATH or in pyenv." >&2
    echo "Install it (e.g. 'pyenv install 3.10' or your system's python3.10 package)," >&2
    echo "or point PYTHON310 at one: make PYTHON310=/path/to/python3.10 ..." >&2
    exit 1
fi
echo "Creating $venv with $python310 and installing Rasa 3.6.21 (about 3 minutes, once) ..."
"$python310" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade "pip<25" "setuptools<70" wheel
"$venv/bin/python" -m pip install --quiet -c "$constraints" "rasa==3.6.21" "rasa-sdk==3.6.2"
cp "$constraints" "$venv/.constraints"
echo "Rasa is installed in $venv"
