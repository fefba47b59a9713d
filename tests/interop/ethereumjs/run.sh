#!/usr/bin/env bash
# Interop with ethereumjs's devp2p (an independent implementation), both directions:
#  1. ethereumjs dials `node listen --protocol eth/68`: RLPx handshake, Hello, the eth/68
#     STATUS exchange (our echo protocol sends its STATUS back), three eth messages echoed
#     byte for byte, then ethereumjs disconnects with "client quitting", which we must read.
#  2. `node ping` against an ethereumjs listener prints its Hello.
# Exit 0 on success, 1 on an interop failure, 3 when the npm packages cannot be installed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node_bin="${1:?usage: run.sh <path to the node example binary>}"
command -v npm >/dev/null || { echo "interop: npm not found"; exit 3; }
(cd "$here" && timeout 300 npm install --silent --no-audit --no-fund >/dev/null 2>&1) \
  || { echo "interop: npm install failed"; exit 3; }
log=$(mktemp)
trap 'rm -f "$log"; kill $(jobs -p) 2>/dev/null' EXIT

"$node_bin" listen --port 0 --protocol eth/68 --seconds 20 >"$log" 2>&1 &
listener=$!
for _ in $(seq 100); do grep -q '^enode://' "$log" && break; sleep 0.1; done
enode=$(head -1 "$log")
(cd "$here" && timeout 30 node interop.mjs dial "$enode") || { echo "interop: ethereumjs dial failed"; cat "$log"; exit 1; }
for _ in $(seq 100); do grep -q 'peer left' "$log" && break; sleep 0.1; done
grep 'peer left' "$log" | grep -q 'client quitting' \
  || { echo "interop: we did not read ethereumjs's disconnect reason"; cat "$log"; exit 1; }
kill -INT $listener; wait $listener

port=$((30000 + RANDOM % 20000))
(cd "$here" && timeout 30 node interop.mjs listen "$port" >"$log" 2>&1) &
for _ in $(seq 100); do grep -q '^enode://' "$log" && break; sleep 0.1; done
out=$("$node_bin" ping "$(head -1 "$log")") || { echo "interop: ping failed: $out"; exit 1; }
echo "$out" | grep -q 'client:   ethereumjs-devp2p' || { echo "interop: unexpected ping output: $out"; exit 1; }
echo "interop with ethereumjs: ok"
