# Shared by scripts/dev.sh and scripts/test.sh: the project venv and the moto server.
# Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# Creates .venv and installs the pinned tools when they are missing or the pins changed.
ensure_venv() {
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/moto_server" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing pinned Python tools into .venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# The arm64 target that `cargo lambda build --arm64` needs.
ensure_arm64_target() {
  rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
    || rustup target add aarch64-unknown-linux-gnu
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts moto on a free loopback port (or $1), exports the SDK's endpoint variables, and sets MOTO_PID.
start_moto() {
  local port="${1:-$(free_port)}"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$ROOT/target/moto-$port.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto server failed to start; see target/moto-$port.log" >&2
      return 1
    fi
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  echo "==> moto server on $AWS_ENDPOINT_URL (pid $MOTO_PID)"
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null; fi
  return 0
}

# Builds every function (every crate under functions/) for Lambda on arm64 into target/lambda-arm64.
build_lambdas() {
  ensure_arm64_target
  local packages=()
  for dir in "$ROOT"/functions/*/; do packages+=(-p "$(basename "$dir")"); done
  cargo lambda build --release --arm64 --lambda-dir "$ROOT/target/lambda-arm64" "${packages[@]}"
}
