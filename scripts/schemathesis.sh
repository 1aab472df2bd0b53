#!/usr/bin/env bash
# Part of `make test`: runs the local stack (against the moto server already started by the caller)
# and points schemathesis at its /openapi.json: no 5xx, and no response outside the document.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

cargo build --quiet --bin local-stack
port="$(free_port)"
run_id="st$(date +%s)$$"
PORT="$port" TABLE_NAME="orders-$run_id" QUEUE_PREFIX="$run_id-" SEED_DEMO=true SCHEDULE_INTERVAL_SECONDS=3600 \
  RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/debug/local-stack" > "target/schemathesis-stack.log" 2>&1 &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/openapi.json')" 2>/dev/null; then break; fi
  if ! kill -0 "$stack_pid" 2>/dev/null; then echo "local stack failed; see target/schemathesis-stack.log" >&2; exit 1; fi
  sleep 0.2
done

# A session token for the demo shop, signed with the local app secret, as Shopify would issue it.
token="$(python3 - <<'PY'
import base64, hashlib, hmac, json, time
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
now = int(time.time())
claims = {"iss": "https://demo-shop.myshopify.com/admin", "dest": "https://demo-shop.myshopify.com",
          "aud": "dev-api-key", "sub": "1", "exp": now + 3600, "nbf": now, "iat": now}
signed = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
print(signed + "." + b64(hmac.new(b"dev-api-secret", signed.encode(), hashlib.sha256).digest()))
PY
)"

schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --generation-deterministic \
  --request-timeout 10
