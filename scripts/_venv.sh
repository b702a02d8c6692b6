# Shared by scripts/test, scripts/localnet and scripts/bench: make sure .venv exists
# and holds the project with the requested extras, reinstalling only when
# pyproject.toml changed since the last install.  Sourced, not executed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

ensure_venv() {
    local extras="${1:-}"
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV" || { echo "error: could not create $VENV (is python3-venv installed?)" >&2; return 1; }
    fi
    local spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    local stamp="$VENV/.vcledger-installed${extras:+-$extras}"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        local log="$VENV/install.log"
        if ! "$PY" -m pip install --disable-pip-version-check -q -e "$spec" >"$log" 2>&1; then
            echo "error: installing vcledger into .venv failed; see $log" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        echo "$want" >"$stamp"
    fi
}
