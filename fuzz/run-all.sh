#!/bin/sh
# Runs every fuzz target in turn, one process at a time, for SECONDS each (default 600),
# continuing past crashes, timeouts and out-of-memory inputs so that each target gets its
# full time; crashing inputs land in artifacts/<target>/. Logs go to logs/<target>.log.
# Usage (from fuzz/): ./run-all.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"frame_raw frame_structured snappy hello peer handshake disc_reason enode"}
mkdir -p logs
for t in $targets; do
    mkdir -p "corpus/$t"
    echo "== $t: $(date -u +%H:%M:%S) start" >>logs/summary.txt
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=20 -fork=1 \
        -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 >"logs/$t.log" 2>&1
    echo "== $t: $(date -u +%H:%M:%S) exit $? :: $(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)" >>logs/summary.txt
done
