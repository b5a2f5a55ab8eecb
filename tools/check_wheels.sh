#!/usr/bin/env bash
# Does every pin of requirements.txt have a wheel for these Pythons? Asks PyPI (network), installs nothing:
#   tools/check_wheels.sh 3.11 3.12 3.13 3.14
# For each version, pip resolves the whole lock with --dry-run --only-binary=:all: --no-deps for Linux x86-64
# (manylinux) and says which pin has no wheel. --no-deps: each pin on its own; torch's CUDA libraries, which
# PyPI's Linux torch pulls in, are not part of the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
status=0
for version in "$@"; do
    # note: "3.11" alone would mean 3.11.0; a pin may need a later patch release, so ask for the oldest exactly
    if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --dry-run --ignore-installed \
        --no-deps --only-binary=:all: --python-version "$version.0" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --target "$venv/target" --report "$venv/report.json" -r requirements.txt 2>"$venv/err"; then
        n=$("$venv/bin/python" -c "import json, sys; print(len(json.load(open(sys.argv[1]))['install']))" "$venv/report.json")
        echo "Python $version: all $n pins have a wheel"
    else
        echo "Python $version: $(grep -m1 -o 'No matching distribution found for .*' "$venv/err" || tail -1 "$venv/err")"
        status=1
    fi
done
exit $status
