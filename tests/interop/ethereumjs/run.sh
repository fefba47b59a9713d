#!/usr/bin/env bash
# Interop with ethereumjs's devp2p (an independent implementation), both directions:
#  1. ethereumjs dials `node listen --protocol eth/68`: RLPx handshake, Hello, the eth/68
#     STATUS exchange (our echo protocol sends its STATUS back), three eth messages echoed
#     byte for byte, then ethereumjs disconnects with "client quitting", which we must read.
#  2. `node ping` against an ethereumjs listener prints its Hello.
#  3. `eth_status` (examples/eth_status.rs) exchanges eth/68 Status with ethereumjs both ways:
#     it queries an ethereumjs listener, and an ethereumjs node queries `eth_status --listen`.
#     Both sides check the other's Status (network, genesis, fork ID); we announce Prague's
#     fork ID, the newest fork the pinned @ethereumjs/common knows.
# Exit 0 on success, 1 on an interop failure, 3 when the npm packages cannot be installed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node_bin="${1:?usage: run.sh <path to the node example binary>}"
command -v npm >/dev/null || { echo "interop: npm not found"; exit 3; }
(cd "$here" && timeout 300 npm install --silent --no-audit --no-fund >/dev/null 2>&1) \
  || { echo "interop: npm install failed"; exit 3; }
log=$(mktemp); log_a=$(mktemp); log_b=$(mktemp)
trap 'rm -f "$log" "$log_a" "$log_b"; kill $(jobs -p) 2>/dev/null' EXIT

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

# The eth_status example, built (or found up to date) next to the node binary.
eth_bin="$(cd "$(dirname "$node_bin")" && pwd)/eth_status"
case "$eth_bin" in */release/*) profile=--release ;; *) profile= ;; esac
(cd "$here/../../.." && cargo build $profile --example eth_status -q) \
  || { echo "interop: cannot build the eth_status example"; exit 1; }
[ -x "$eth_bin" ] || { echo "interop: $eth_bin missing"; exit 1; }
prague=1746612311

port=$((30000 + RANDOM % 20000))
(cd "$here" && timeout 30 node interop.mjs listen "$port" >"$log_a" 2>&1) &
ejs=$!
for _ in $(seq 100); do grep -q '^enode://' "$log_a" && break; sleep 0.1; done
out=$("$eth_bin" "$(head -1 "$log_a")" --version 68 --head-time "$prague" 2>&1) \
  || { echo "interop: eth_status against ethereumjs failed: $out"; cat "$log_a"; exit 1; }
echo "$out" | grep -q 'fork id:      0xc376cf8b' && echo "$out" | grep -q 'left with: client quitting' \
  || { echo "interop: unexpected eth_status output: $out"; exit 1; }
for _ in $(seq 100); do grep -q '^removed' "$log_a" && break; sleep 0.1; done
grep -q '^eth status ok' "$log_a" && grep '^removed' "$log_a" | grep -q 'CLIENT_QUITTING' \
  || { echo "interop: ethereumjs did not accept our Status or our leaving"; cat "$log_a"; exit 1; }
kill $ejs 2>/dev/null; wait $ejs 2>/dev/null

"$eth_bin" --listen --port 0 --version 68 --head-time "$prague" --seconds 20 >"$log_b" 2>&1 &
listener=$!
for _ in $(seq 100); do grep -q '^enode://' "$log_b" && break; sleep 0.1; done
(cd "$here" && timeout 30 node interop.mjs status "$(head -1 "$log_b")") \
  || { echo "interop: ethereumjs's eth Status exchange with eth_status --listen failed"; cat "$log_b"; exit 1; }
for _ in $(seq 100); do grep -q 'left: client quitting' "$log_b" && break; sleep 0.1; done
grep -q "fork id:      0xc376cf8b" "$log_b" && grep -q 'left: client quitting' "$log_b" \
  || { echo "interop: eth_status --listen did not print ethereumjs's Status and leaving"; cat "$log_b"; exit 1; }
kill $listener 2>/dev/null; wait $listener 2>/dev/null
echo "interop with ethereumjs: ok"
