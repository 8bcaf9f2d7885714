#!/usr/bin/env bash
# What a new user gets from the README: a fresh venv, `pip install -e .` with no extras, then, offline, every module of
# the package imports and `tamil-ser demo` runs and prints its figures. CI runs this before the dev install, which would
# hide a dependency that only an extra or the dev tools bring.
# Usage: tools/user-check.sh VENV [pip arguments that install torch; default: torch]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: tools/user-check.sh VENV [pip arguments for torch]}
shift
[ $# -gt 0 ] || set -- torch
rm -rf "$venv"
python3 -m venv "$venv"
py="$(cd "$venv" && pwd)/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "$@"
"$py" -m pip install -q -e .
export HF_HUB_OFFLINE=1   # as on a machine without a model hub: the demo needs none
"$py" - <<'PY'
import importlib, pkgutil, tamil_ser
mods = sorted(m.name for m in pkgutil.iter_modules(tamil_ser.__path__))
for m in mods: importlib.import_module(f'tamil_ser.{m}')
print(f'tools/user-check.sh: {len(mods)} modules of tamil_ser import after `pip install -e .`')
PY
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
(cd "$demo" && "$(dirname "$py")/tamil-ser" demo >out.txt 2>err.txt) || { tail -20 "$demo/err.txt" >&2; echo "tools/user-check.sh: tamil-ser demo failed" >&2; exit 1; }
grep -q 'UAR' "$demo/out.txt" || { echo "tools/user-check.sh: tamil-ser demo printed no UAR" >&2; exit 1; }
grep 'UAR' "$demo/out.txt" | head -2
echo "tools/user-check.sh: tamil-ser demo ran"
