#!/usr/bin/env bash
# docs/security.md, "Cost": fan-in QoS 0 (4 publishers → 1 subscriber,
# edgemq-bench fanin --qos 0) against edgemq without an ACL file and with
# a generated one of about 1,000 lines (anonymous rules, 300 users, patterns
# and denies; the benchmark's clients are anonymous and may write and read
# bench/#), and with one more line, a deny inside the subscriber's filter,
# so that every delivery is checked as well. Rounds alternate the three,
# each broker started fresh; prints
# every run and the medians.
#
#   tests/bench/acl.sh                 5 rounds of 100,000 messages per publisher
#   tests/bench/acl.sh --rounds 3 --count 50000
#
# Environment: EDGEMQ_BIN (default target/release/edgemq, built here with
# the patched async-io as `make release` does), EDGEMQ_BENCH (a built
# edgemq-bench), CARGO_TARGET_DIR, BENCH_OUT, BENCH_PORT (default 18870).
set -euo pipefail

ROUNDS=5
FANIN=100000
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --count) FANIN=$2; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "acl: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/edgemq-acl-bench.XXXXXX)}
PORT=${BENCH_PORT:-18870}
BENCH_MAX_CONNS=200
mkdir -p "$OUT"
# shellcheck source=tests/bench/brokers.sh
. "$HERE/brokers.sh"

if [ -z "${EDGEMQ_BIN:-}" ]; then
    (cd "$ROOT" && make -s release >"$OUT/build.log" 2>&1) ||
        { tail -20 "$OUT/build.log" >&2; exit 1; }
    EDGEMQ_BIN=$TARGET/release/edgemq
fi
if [ -n "${EDGEMQ_BENCH:-}" ]; then
    BENCH=$EDGEMQ_BENCH
else
    (cd "$ROOT" && cargo build -q --profile bench-gen --features bench --bin edgemq-bench)
    BENCH=$TARGET/bench-gen/edgemq-bench
fi

# The ACL: a router's file grown to ~1,000 lines.
ACL=$OUT/bench.acl
{
    echo "# anonymous clients"
    echo "topic readwrite bench/#"
    for i in $(seq 1 40); do echo "topic read public/area$i/#"; done
    echo "topic deny public/area1/private/#"
    for u in $(seq 1 300); do
        echo "user device$u"
        echo "topic readwrite site/device$u/#"
        echo "topic read cmd/device$u/+"
    done
    for i in $(seq 1 30); do
        echo "pattern write telemetry$i/%c/#"
        echo "pattern read config$i/%u/#"
    done
    echo "pattern deny devices/%c/locked/#"
} >"$ACL"
echo "acl: $(grep -vc '^#' "$ACL") rules in $(wc -l <"$ACL") lines" >&2
# The same plus a deny inside the subscriber's filter: every delivery is
# then checked too (docs/security.md, "Subscriptions").
ACL_DENY=$OUT/bench-deny.acl
{ cat "$ACL"; echo "topic deny bench/in/never/#"; } >"$ACL_DENY"

BROKER_PID=
trap 'stop_broker' EXIT INT TERM
RESULTS=$OUT/results.tsv
: >"$RESULTS"

run() {
    local label=$1 line rate cpu
    if ! start_broker edgemq "$PORT" off "$OUT"; then
        exit 1
    fi
    line=$("$BENCH" --port "$PORT" --pid "$BROKER_PID" --label "$label" --timeout 180 \
        fanin --count "$FANIN" --qos 0 2>>"$OUT/bench.err")
    stop_broker
    rate=$(echo "$line" | grep -o '"msg_per_s":[0-9.]*' | cut -d: -f2)
    cpu=$(echo "$line" | grep -o '"broker_cpu_pct":[0-9.]*' | cut -d: -f2)
    # Broker CPU per message (ns): steadier than the rate on a shared
    # machine, where the broker waits for a core as often as for work.
    printf '%s\t%s\t%s\n' "$label" "$rate" "$(awk -v c="$cpu" -v r="$rate" 'BEGIN { printf "%.1f", c / 100 / r * 1e9 }')" >>"$RESULTS"
    echo "  $label: $line" | cut -c1-200 >&2
}

for round in $(seq 1 "$ROUNDS"); do
    echo "acl: round $round of $ROUNDS" >&2
    EDGEMQ_ACL_FILE= run no-acl
    EDGEMQ_ACL_FILE=$ACL run acl-1000
    EDGEMQ_ACL_FILE=$ACL_DENY run acl-1000-deny
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v l="$1" -v c="$2" '$1 == l { print $c }' "$RESULTS" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
without=$(col no-acl 2) with=$(col acl-1000 2) deny=$(col acl-1000-deny 2)
echo "fan-in QoS 0, medians of $ROUNDS: without ACL $without msg/s; with a 1,000-line ACL $with msg/s ($(ratio "$with" "$without")); with every delivery checked too $deny msg/s ($(ratio "$deny" "$without"))"
without=$(col no-acl 3) with=$(col acl-1000 3) deny=$(col acl-1000-deny 3)
echo "broker CPU per message, medians: without ACL $without ns; with the ACL $with ns ($(ratio "$without" "$with") of the rate it allows); every delivery checked $deny ns ($(ratio "$without" "$deny"))"
echo "(runs in $RESULTS)"
