#!/usr/bin/env bash
# Soak: the release broker under a mixed workload for a long time, its
# memory, descriptors and store sampled every 5 s (README.md ## Performance,
# "Soak").
#
#   tests/soak/soak.sh DURATION        e.g. 120, 90s, 10m, 1h (publishing
#                                      time; a minute of drain follows)
#   tests/soak/soak.sh --check DIR     the checks again over a finished run
#   make soak DURATION=1h              builds the release binaries first
#
# Workload (edgemq-bench soak, src/bin/edgemq-bench/soak.rs): live QoS 0,
# 1 and 2 streams (200, 100, 50 msg/s) to subscribers that stay connected;
# 20 persistent sessions (QoS 1 and 2, 1 msg/s each) that go offline for
# 2-8 s and come back, half of the time without a DISCONNECT; retained
# updates round 100 topics (20/s); 10 new clean connections a second from
# a pool of 50 ids (takeovers included), every tenth checking the
# retained set; 50 msg/s QoS 1 up a bridge to a Debian mosquitto ("the
# cloud", persistence on) that this script stops (SIGTERM) for
# SOAK_FLAP_DOWN s every SOAK_FLAP_UP s, by its PID, and brings back.
# Device trajectories are capped at 256 KiB (SOAK_TRAJECTORY_BYTES): the
# churn records about 3.6 KB of them a second, which fills the default
# 4 MiB only 19 minutes in, long after warm-up (README.md, "Soak", has
# what the default costs); 256 KiB is full after about 70 s, and from
# then on every event evicts the oldest, in memory and in the store.
#
# Samples into DIR/samples.csv: t_s, rss_kib, open_fds (/proc/PID/fd),
# store_bytes (du -sb of the store directory), cloud_up. Checks, exit
# status 1 when one fails:
#   - RSS: the median of the minute after warm-up (10 % of the run, at
#     least 5 minutes) against the median of the last minute of load:
#     < 5 % growth. Runs under 10 minutes (CI's 2) cannot tell warm-up
#     from growth: there RSS must stay under 16 MiB instead
#   - open files: never above the idle broker's count + 2 per driver
#     connection slot (SOAK_FD_MARGIN, default 96)
#   - store bytes: after warm-up never above 2 × warm-up's largest + 1 MiB,
#     and never above 16 MiB
#   - nothing lost beyond policy: live QoS 1/2, persistent sessions: 0
#     lost; live QoS 0 lost ≤ the broker's publish_dropped; bridge lost
#     ≤ the bridge's dropped (admin API stats at the end, DIR/stats.json)
#
# Environment: EDGEMQ_BIN, BENCH_BIN (default target/release/…),
# MOSQUITTO_BIN, SOAK_OUT (default a new dir under /tmp), SOAK_PORT
# (default 18930; +1 the cloud, +2 the admin API), SOAK_FLAP_UP (40),
# SOAK_FLAP_DOWN (8), SOAK_SESSIONS (20), SOAK_TRAJECTORY_BYTES (262144).
set -euo pipefail

# Short runs: RSS is still warming up (sled's cache, allocator arenas),
# so it is held to a ceiling instead (KiB; fan-in's floor in compare.sh).
RSS_CEILING=16384
# Store bytes, any run: a quarter of max_store_bytes' default.
STORE_CEILING=16777216

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# seconds DURATION: 120, 90s, 10m, 1h -> seconds
seconds() {
    case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
    esac
}

# median_of COLUMN FROM_S TO_S: median of CSV COLUMN over t in [FROM, TO]
csv_median() {
    awk -F, -v c="$1" -v a="$2" -v b="$3" 'NR > 1 && $1 >= a && $1 <= b {print $c}' "$OUT/samples.csv" |
        sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print 0}'
}
csv_max() {
    awk -F, -v c="$1" -v a="$2" -v b="$3" 'NR > 1 && $1 >= a && $1 <= b && $c > m {m = $c} END {print m + 0}' "$OUT/samples.csv"
}
json_int() { # json_int FILE KEY
    grep -o "\"$2\":[0-9]*" "$1" | head -1 | cut -d: -f2
}

check() {
    local fail=0 last load warm rss_warm rss_end growth fds_max store_warm store_max
    last=$(awk -F, 'NR > 1 {t = $1} END {print t + 0}' "$OUT/samples.csv")
    load=$(json_int "$OUT/driver.json" seconds)
    load=${load:-$last}
    [ "$load" -le "$last" ] || load=$last
    warm=$((load / 10))
    [ "$warm" -ge 300 ] || warm=300
    # Medians over a minute (12 samples) at each end: the end is the last
    # minute of load, before the drain.
    rss_warm=$(csv_median 2 "$warm" $((warm + 59)))
    rss_end=$(csv_median 2 $((load - 59)) "$load")
    growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN {printf "%.2f", a ? 100 * (b - a) / a : 0}')
    fds_max=$(csv_max 3 0 "$last")
    [ "$warm" -le "$load" ] || warm=$load
    store_warm=$(csv_max 4 0 "$warm")
    store_max=$(csv_max 4 "$warm" "$last")
    local fd_bound=$(($(cat "$OUT/idle_fds") + ${SOAK_FD_MARGIN:-96}))
    local store_bound=$((2 * store_warm + 1048576))
    local d=$OUT/driver.json s=$OUT/stats.json
    {
        echo "soak: $(json_int "$d" seconds) s of load, samples in $OUT/samples.csv"
        if [ "$load" -ge $((2 * warm)) ]; then
            echo "  RSS at warm-up (t=${warm}s) ${rss_warm} KiB, at the end of load (t=${load}s) ${rss_end} KiB: ${growth} % (< 5 %), max $(csv_max 2 "$warm" "$last") KiB"
        else
            echo "  RSS: max $(csv_max 2 0 "$last") KiB (ceiling $RSS_CEILING KiB; growth is checked on runs of 10 minutes and more)"
        fi
        echo "  open files: max $fds_max (bound $fd_bound)"
        echo "  store bytes: max $store_max after warm-up (bound $store_bound: 2 × warm-up's $store_warm + 1 MiB)"
        for k in live_q0 live_q1 live_q2 persistent bridge; do
            echo "  $k: sent $(json_int "$d" ${k}_sent) received $(json_int "$d" ${k}_received) lost $(json_int "$d" ${k}_lost) duplicated $(json_int "$d" ${k}_duplicated)"
        done
        echo "  persistent reconnects $(json_int "$d" persistent_connects), cloud reconnects $(json_int "$d" cloud_connects), churn connections $(json_int "$d" churn_connects), retained updates $(json_int "$d" retained_updates) (checks $(json_int "$d" retained_checks), wrong $(json_int "$d" retained_wrong)), cloud restarts $(cat "$OUT/flaps")"
        echo "  broker: messages received $(json_int "$s" messages_received), sent $(json_int "$s" messages_sent), connections accepted $(json_int "$s" connections_accepted), takeovers $(json_int "$s" takeovers)"
        echo "  broker: publish_dropped $(json_int "$s" publish_dropped), dropped_offline_queue_full $(json_int "$s" dropped_offline_queue_full), dropped_lagging $(json_int "$s" dropped_lagging), dropped_qos0_outbound_full $(json_int "$s" dropped_qos0_outbound_full), dropped_store_full $(json_int "$s" dropped_store_full), bridge dropped $(json_int "$s" dropped)"
    } | tee "$OUT/summary.txt"
    ok() { # ok NAME CONDITION(awk)
        if ! awk "BEGIN {exit !($2)}"; then
            echo "soak: FAILED: $1" | tee -a "$OUT/summary.txt" >&2
            fail=1
        fi
    }
    [ -s "$d" ] || { echo "soak: FAILED: no result from the driver (see $OUT/driver.err)" >&2; return 1; }
    [ -s "$s" ] || { echo "soak: FAILED: no stats from the admin API" >&2; return 1; }
    if [ "$load" -ge $((2 * warm)) ]; then
        ok "RSS grew ${growth} %" "$growth < 5"
    else
        ok "RSS above $RSS_CEILING KiB" "$(csv_max 2 0 "$last") <= $RSS_CEILING"
    fi
    ok "open files $fds_max > $fd_bound" "$fds_max <= $fd_bound"
    ok "store bytes $store_max > $store_bound" "$store_max <= $store_bound"
    ok "store bytes above $STORE_CEILING" "$(csv_max 4 0 "$last") <= $STORE_CEILING"
    ok "live QoS 1 lost" "$(json_int "$d" live_q1_lost) == 0"
    ok "live QoS 2 lost" "$(json_int "$d" live_q2_lost) == 0"
    ok "persistent sessions lost" "$(json_int "$d" persistent_lost) == 0"
    ok "live QoS 0 lost beyond publish_dropped" "$(json_int "$d" live_q0_lost) <= $(json_int "$s" publish_dropped)"
    ok "bridge lost beyond its dropped" "$(json_int "$d" bridge_lost) <= $(json_int "$s" dropped)"
    ok "publisher errors" "$(json_int "$d" publisher_errors) == 0"
    ok "retained checks wrong" "$(json_int "$d" retained_wrong) == 0"
    ok "nothing published" "$(json_int "$d" live_q1_sent) > 0"
    [ "$fail" = 0 ] && echo "soak: all checks passed" | tee -a "$OUT/summary.txt"
    return "$fail"
}

if [ "${1:-}" = --check ]; then
    OUT=${2:?--check DIR}
    check
    exit
fi
DURATION=$(seconds "${1:?usage: soak.sh DURATION (120, 90s, 10m, 1h)}")
[ "$DURATION" -ge 60 ] || { echo "soak: at least 60 s" >&2; exit 2; }

EDGEMQ_BIN=${EDGEMQ_BIN:-$TARGET/release/edgemq}
BENCH_BIN=${BENCH_BIN:-$TARGET/release/edgemq-bench}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
for b in "$EDGEMQ_BIN" "$BENCH_BIN" "$MOSQUITTO_BIN"; do
    [ -x "$b" ] || { echo "soak: $b missing (make soak builds it; mosquitto: apt-get install mosquitto)" >&2; exit 2; }
done
OUT=${SOAK_OUT:-$(mktemp -d /tmp/edgemq-soak.XXXXXX)}
mkdir -p "$OUT"
PORT=${SOAK_PORT:-18930}
CLOUD_PORT=$((PORT + 1))
ADMIN_PORT=$((PORT + 2))
FLAP_UP=${SOAK_FLAP_UP:-40}
FLAP_DOWN=${SOAK_FLAP_DOWN:-8}
SESSIONS=${SOAK_SESSIONS:-20}
TRAJECTORY_BYTES=${SOAK_TRAJECTORY_BYTES:-262144}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PORT" "$CLOUD_PORT" "$ADMIN_PORT"; do
    if port_open "$p"; then
        echo "soak: 127.0.0.1:$p is in use (set SOAK_PORT)" >&2
        exit 2
    fi
done
# wait_port PORT PID NAME: bounded wait until PORT accepts
wait_port() {
    local i
    for i in $(seq 1 100); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || { echo "soak: $3 exited at start (see $OUT)" >&2; return 1; }
        sleep 0.1
    done
    echo "soak: $3 did not listen on $1 within 10 s" >&2
    return 1
}

EDGE_PID= CLOUD_PID= DRIVER_PID=
stop_pid() { # stop_pid PID: TERM, KILL after 10 s
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
trap 'stop_pid "$DRIVER_PID"; stop_pid "$EDGE_PID"; stop_pid "$CLOUD_PID"' EXIT INT TERM

cat >"$OUT/cloud.conf" <<EOF
listener $CLOUD_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $OUT/cloud-data/
# As root it would drop to the mosquitto user, who can write neither.
user root
log_dest file $OUT/cloud.log
connection_messages false
EOF
mkdir -p "$OUT/cloud-data"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OUT/admin.token"
cat >"$OUT/edgemq.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $OUT/edgemq-data/
max_queued_messages 100
admin_listener 127.0.0.1:$ADMIN_PORT
admin_token_file $OUT/admin.token
log_dest file $OUT/edgemq.log
log_level info
connection_messages false
trajectory_max_bytes $TRAJECTORY_BYTES

connection cloud
address 127.0.0.1:$CLOUD_PORT
keepalive_interval 5
restart_timeout 1 2
topic soak/up/# out 1
EOF

start_cloud() {
    "$MOSQUITTO_BIN" -c "$OUT/cloud.conf" >>"$OUT/cloud.log" 2>&1 &
    CLOUD_PID=$!
    wait_port "$CLOUD_PORT" "$CLOUD_PID" mosquitto
}
start_cloud
"$EDGEMQ_BIN" -c "$OUT/edgemq.conf" >>"$OUT/edgemq.out" 2>&1 &
EDGE_PID=$!
wait_port "$PORT" "$EDGE_PID" edgemq
sleep 1
ls "/proc/$EDGE_PID/fd" | wc -l >"$OUT/idle_fds"

echo "soak: $DURATION s against $EDGEMQ_BIN (PID $EDGE_PID), cloud PID $CLOUD_PID, output in $OUT" >&2
"$BENCH_BIN" --port "$PORT" --pid "$EDGE_PID" --label edgemq --timeout $((DURATION + 180)) \
    soak --seconds "$DURATION" --sessions "$SESSIONS" --cloud-port "$CLOUD_PORT" \
    >"$OUT/driver.json" 2>"$OUT/driver.err" &
DRIVER_PID=$!

echo "t_s,rss_kib,open_fds,store_bytes,cloud_up" >"$OUT/samples.csv"
flaps=0 cloud_up=1 next_flap=$FLAP_UP start=$SECONDS next_sample=0
# The cloud stays up for the last stretch, so the bridge can drain.
flap_until=$((DURATION - FLAP_UP / 2))
while kill -0 "$DRIVER_PID" 2>/dev/null; do
    t=$((SECONDS - start))
    if [ "$t" -ge "$next_sample" ]; then
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$EDGE_PID/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$EDGE_PID/fd" 2>/dev/null | wc -l)
        store=$(du -sb "$OUT/edgemq-data" 2>/dev/null | cut -f1)
        echo "$t,${rss:-0},$fds,${store:-0},$cloud_up" >>"$OUT/samples.csv"
        next_sample=$((next_sample + 5))
    fi
    if [ "$t" -ge "$next_flap" ]; then
        if [ "$cloud_up" = 1 ] && [ "$t" -lt "$flap_until" ]; then
            stop_pid "$CLOUD_PID"
            CLOUD_PID= cloud_up=0 flaps=$((flaps + 1))
            next_flap=$((t + FLAP_DOWN))
        elif [ "$cloud_up" = 0 ]; then
            start_cloud
            cloud_up=1 next_flap=$((t + FLAP_UP))
        fi
    fi
    sleep 1
done
DRIVER_STATUS=0
wait "$DRIVER_PID" || DRIVER_STATUS=$?
DRIVER_PID=
echo "$flaps" >"$OUT/flaps"

# The broker's own account: GET /api/v1/stats.
{
    exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"
    printf 'GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' \
        "$(cat "$OUT/admin.token")" >&3
    timeout 10 cat <&3 | sed '1,/^\r$/d' >"$OUT/stats.json"
} || echo "soak: could not read the admin API" >&2
stop_pid "$EDGE_PID"
EDGE_PID=
stop_pid "$CLOUD_PID"
CLOUD_PID=
[ "$DRIVER_STATUS" = 0 ] || echo "soak: the driver exited with $DRIVER_STATUS: $(tail -3 "$OUT/driver.err")" >&2
check
