#!/usr/bin/env bash
# README.md ## Performance: edgemq side by side with mosquitto and rumqttd.
#
#   tests/bench/compare.sh                 5 rounds, persistence off and on
#   tests/bench/compare.sh --quick         1 round, small counts (development)
#   tests/bench/compare.sh --rounds 7 --persistence off
#   tests/bench/compare.sh --only shared1 --persistence off --rounds 3
#                                          only the scenarios named (tags,
#                                          comma-separated: conns fanin0
#                                          fanin1 fanout latency latency50
#                                          shared1) and their rows
#   tests/bench/compare.sh --tls           the TLS table instead: edgemq and
#                                          mosquitto, the same certificate
#   tests/bench/compare.sh --tls --tls-key rsa    an RSA 2048 one (default ecdsa: P-256)
#   tests/bench/compare.sh --mqtt5         the MQTT 5.0 table instead: edgemq and
#                                          mosquitto, 5.0 clients beside 3.1.1 ones
#   tests/bench/compare.sh --recovery      recovery at scale: 10k persistent
#                                          sessions with queued QoS 1 messages
#                                          across a restart, edgemq and
#                                          mosquitto, persistence on
#                                          (tests/bench/recovery.sh)
#   tests/bench/compare.sh --observe       the cost of watching: edgemq with
#                                          sys_interval 10, events and the admin
#                                          API against edgemq and mosquitto, and
#                                          latency while 8 clients poll the API
#
# Installs what is missing (Debian's mosquitto via apt-get; rumqttd 0.20.0
# via `cargo install` into the cache dir, ~4 minutes once), builds edgemq as
# we ship it (static musl, `make cross TARGET=x86_64`) and edgemq-bench, then
# runs every scenario against each broker interleaved (A B C A B C ...),
# each broker started fresh for each scenario, all on 127.0.0.1. shared1 is
# fan-in QoS 1 from 4 publishers into a shared subscription of 4 members
# (`$share/bench/bench/in/#`, 3.1.1 clients): every message must reach
# exactly one member (lost and duplicated are counted across the group).
# Prints
# Markdown tables of medians and edgemq/peer ratios with the floors of
# README.md ## Performance, and keeps the raw JSON lines in the output dir.
#
# --tls: a CA and a server certificate made here with openssl (in a temp
# dir, removed at exit), given to both brokers; TLS 1.3 handshakes per
# second, fan-in QoS 1 over TCP and over TLS, and RSS per idle TLS
# connection (tls_idle_rss.py, 1,000 clients).
#
# --mqtt5: persistence off, edgemq and mosquitto, each scenario with
# 3.1.1 clients and again with 5.0 ones (`edgemq-bench --protocol 5`: 5.0
# CONNECT, SUBSCRIBE and PUBLISH with an empty property block): RSS per
# idle connection (10k), fan-in QoS 1 and fan-out QoS 0. Floors: 5.0 at
# least 90 % of edgemq's 3.1.1 throughput, at most 1.1 × its RSS per idle
# connection, and against mosquitto's 5.0 figures throughput ≥ and RSS ≤.
#
# Environment: CARGO_TARGET_DIR, BENCH_CACHE (default ~/.cache/edgemq-bench),
# BENCH_OUT (default a new directory under /tmp), BENCH_PORT (default 18830),
# EDGEMQ_BIN (default: the shipped static musl build, made here).
set -euo pipefail

ROUNDS=5
PERSISTENCE=both
QUICK=0
TLS=0
TLS_KEY=ecdsa
MQTT5=0
OBSERVE=0
ONLY=
RECOVERY=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ROUNDS=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --persistence) PERSISTENCE=$2; shift ;; # off | on | both
    --tls) TLS=1 ;;
    --tls-key) TLS_KEY=$2; shift ;; # ecdsa | rsa
    --mqtt5) MQTT5=1 ;;
    --observe) OBSERVE=1 ;;
    --only) ONLY=$2; shift ;;
    --recovery) RECOVERY=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "compare: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case $PERSISTENCE in off | on | both) ;; *) echo "compare: --persistence off|on|both" >&2; exit 2 ;; esac
case $TLS_KEY in ecdsa | rsa) ;; *) echo "compare: --tls-key ecdsa|rsa" >&2; exit 2 ;; esac
for tag in ${ONLY//,/ }; do
    case $tag in
    conns | fanin0 | fanin1 | shared1 | fanout | latency | latency50) ;;
    *) echo "compare: --only: no scenario $tag (conns fanin0 fanin1 shared1 fanout latency latency50)" >&2; exit 2 ;;
    esac
done
if [ -n "$ONLY" ] && [ $((TLS + MQTT5 + OBSERVE)) -gt 0 ]; then
    echo "compare: --only picks rows of the default tables, not of --tls, --mqtt5 or --observe" >&2
    exit 2
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=${BENCH_CACHE:-$HOME/.cache/edgemq-bench}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/edgemq-bench.XXXXXX)}
PORT=${BENCH_PORT:-18830}
mkdir -p "$OUT" "$CACHE"
# shellcheck source=tests/bench/brokers.sh
. "$HERE/brokers.sh"

# Scenario sizes: as in README.md ## Performance, or small ones for --quick.
if [ "$QUICK" = 1 ]; then
    CONNS=2000 FANIN=20000 FANOUT=2000 LAT_S=2 HANDSHAKES=1000 RSS_CLIENTS=200 RECOVERY_SESSIONS=1000
else
    CONNS=10000 FANIN=100000 FANOUT=10000 LAT_S=5 HANDSHAKES=5000 RSS_CLIENTS=1000 RECOVERY_SESSIONS=10000
fi
BENCH_MAX_CONNS=$((CONNS + 100))

# 10k connections need 10k descriptors in the generator and in each broker
# (the limit is per process; both inherit it from here).
want_fds=$((CONNS + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want_fds" ]; then
    echo "compare: the hard limit of open files is $hard; $want_fds needed (raise it in limits.conf)" >&2
    exit 1
fi
ulimit -n "$want_fds"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# --- tools -------------------------------------------------------------
MOSQUITTO_BIN=$(command -v mosquitto || true)
[ -n "$MOSQUITTO_BIN" ] || MOSQUITTO_BIN=$(ls /usr/sbin/mosquitto 2>/dev/null || true)
if [ -z "$MOSQUITTO_BIN" ]; then
    echo "compare: installing Debian's mosquitto" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto >/dev/null
    MOSQUITTO_BIN=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi
RUMQTTD_BIN=$CACHE/rumqttd/bin/rumqttd
if [ "$TLS" = 0 ] && [ "$MQTT5" = 0 ] && [ "$OBSERVE" = 0 ] && [ "$RECOVERY" = 0 ] && [ ! -x "$RUMQTTD_BIN" ]; then
    echo "compare: building rumqttd 0.20.0 into $CACHE/rumqttd (about 4 minutes)" >&2
    # Not --locked: its lock file pins a crate that no longer compiles.
    cargo install rumqttd --version 0.20.0 --root "$CACHE/rumqttd" >"$CACHE/install.log" 2>&1 ||
        { tail -20 "$CACHE/install.log" >&2; exit 1; }
fi
# The binary we ship: static musl, std rebuilt for size (`make cross`,
# which installs zig and the nightly it needs). EDGEMQ_BIN overrides it,
# e.g. with target/release/edgemq for the glibc build.
if [ -z "${EDGEMQ_BIN:-}" ]; then
    echo "compare: building edgemq as shipped (make cross TARGET=x86_64) and edgemq-bench" >&2
    (cd "$ROOT" && make -s cross TARGET=x86_64 >"$OUT/build.log" 2>&1) ||
        { tail -20 "$OUT/build.log" >&2; exit 1; }
    EDGEMQ_BIN=$TARGET/x86_64-unknown-linux-musl/release/edgemq
fi
(cd "$ROOT" && cargo build -q --profile bench-gen --features bench --bin edgemq-bench)
BENCH=$TARGET/bench-gen/edgemq-bench

BROKER_PID=
TLS_DIR=
trap 'stop_broker; [ -z "$TLS_DIR" ] || rm -rf "$TLS_DIR"' EXIT INT TERM

# The machine's thread wake-up round trip, printed with the tables: where
# idle vCPUs halt it is tens of µs, and it, not a broker's work, paces the
# scenarios that wait for answers (QoS 1 windows, handshakes).
WAKE_US=$("$BENCH" wake | grep -o '"p50_us":[0-9.]*' | cut -d: -f2)

# run_one TAG NAME PORT PERSIST ARGS...: fresh broker, one scenario, one
# line. The generator dials CLIENT_PORT when set (a TLS listener), else PORT.
run_one() {
    local tag=$1 name=$2 port=$3 persist=$4 line
    shift 4
    if ! start_broker "$name" "$port" "$persist" "$OUT"; then
        return 0
    fi
    if line=$("$BENCH" --port "${CLIENT_PORT:-$port}" --pid "$BROKER_PID" --label "$name" --timeout 180 "$@" 2>>"$OUT/bench.err"); then
        printf '%s\t%s\t%s\n' "$tag" "$name" "$line" >>"$RESULTS"
        echo "  $tag $name: $line" | cut -c1-220 >&2
    else
        echo "  $tag $name: failed (see $OUT/bench.err)" >&2
    fi
    stop_broker
}

# selected TAG...: those of the TAGs --only names (all without it).
selected() {
    local tag
    for tag in "$@"; do
        case ",$ONLY," in ,,|*",$tag,"*) echo "$tag" ;; esac
    done
}

# run_all PERSIST BROKERS...: every scenario, rounds × brokers interleaved.
run_all() {
    local persist=$1 round tag name i
    shift
    local scenarios
    if [ "$persist" = off ]; then
        scenarios=$(selected conns fanin0 fanin1 shared1 fanout latency latency50)
    else
        scenarios=$(selected conns fanin1)
    fi
    [ -n "$scenarios" ] || return 0
    for round in $(seq 1 "$ROUNDS"); do
        echo "compare: persistence $persist, round $round of $ROUNDS" >&2
        for tag in $scenarios; do
            i=0
            for name in "$@"; do
                i=$((i + 1))
                local port=$((PORT + i))
                case $tag in
                conns) run_one "$tag" "$name" "$port" "$persist" conns --count "$CONNS" --subscribe ;;
                fanin0) run_one "$tag" "$name" "$port" "$persist" fanin --count "$FANIN" --qos 0 ;;
                fanin1)
                    local extra=
                    [ "$persist" = on ] && extra=--persistent
                    run_one "$tag" "$name" "$port" "$persist" fanin --count "$FANIN" --qos 1 $extra
                    ;;
                shared1) run_one "$tag" "$name" "$port" "$persist" fanin --count "$FANIN" --qos 1 --shared 4 ;;
                fanout) run_one "$tag" "$name" "$port" "$persist" fanout --count "$FANOUT" --subscribers 100 ;;
                latency) run_one "$tag" "$name" "$port" "$persist" latency --rate 10000 --seconds "$LAT_S" ;;
                # A quiet sensor LAN: the broker idles between messages.
                latency50) run_one "$tag" "$name" "$port" "$persist" latency --rate 50 --seconds "$LAT_S" --warmup 10 ;;
                esac
            done
        done
    done
}

machine() {
    local cpu peer=", rumqttd 0.20.0"
    # mosquitto's TLS is the system's OpenSSL.
    [ "$TLS" = 0 ] || peer=" (OpenSSL $(openssl version | awk '{print $2}'))"
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "$(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r);" \
        "mosquitto $("$MOSQUITTO_BIN" -h 2>/dev/null | head -1 | awk '{print $3}')$peer," \
        "thread wake-up round trip ${WAKE_US:-?} µs (\`edgemq-bench wake\`);" \
        "edgemq $(cd "$ROOT" && git rev-parse --short HEAD) ($(case $EDGEMQ_BIN in *-musl*) echo "static musl build" ;; *) echo "$EDGEMQ_BIN" ;; esac)); $ROUNDS rounds, medians"
}

# median_of TAG BROKER KEY: the median of KEY over RESULTS' lines of TAG
# from BROKER (empty without any).
median_of() {
    # grep finds nothing when --only left TAG out: empty, not an exit.
    awk -F'\t' -v tag="$1" -v broker="$2" '$1 == tag && $2 == broker' "$RESULTS" |
        { grep -o "\"$3\":[0-9.]*" || true; } | cut -d: -f2 | sort -n |
        awk '{v[NR] = $1} END {if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# table NAME BROKERS TITLE [AWK-OPTION...]: RESULTS as a Markdown table
# with the rows of metrics-NAME.txt under TITLE (those of the scenarios
# --only names), kept as table-NAME.md.
table() {
    local name=$1 brokers=$2 title=$3 metrics
    shift 3
    metrics=$HERE/metrics-$name.txt
    if [ -n "$ONLY" ]; then
        metrics=$OUT/metrics-$name.txt
        awk -F'|' -v only=",$ONLY," 'index(only, "," $2 ",")' "$HERE/metrics-$name.txt" >"$metrics"
        [ -s "$metrics" ] || return 0
    fi
    echo
    echo "### $title — $(machine)"
    echo
    awk -v brokers="$brokers" -v metrics="$metrics" "$@" \
        -f "$HERE/table.awk" "$metrics" "$RESULTS" | tee "$OUT/table-$name.md"
}

if [ "$TLS" = 1 ]; then
    # shellcheck source=tests/bench/tls.sh
    . "$HERE/tls.sh"
    exit 0
fi
if [ "$MQTT5" = 1 ]; then
    # shellcheck source=tests/bench/mqtt5.sh
    . "$HERE/mqtt5.sh"
    exit 0
fi
if [ "$RECOVERY" = 1 ]; then
    # shellcheck source=tests/bench/recovery.sh
    . "$HERE/recovery.sh"
    exit 0
fi
if [ "$OBSERVE" = 1 ]; then
    # shellcheck source=tests/bench/observe.sh
    . "$HERE/observe.sh"
    exit 0
fi

off_fanin1=
if [ "$PERSISTENCE" != on ]; then
    RESULTS=$OUT/results-off.tsv
    : >"$RESULTS"
    run_all off edgemq mosquitto rumqttd
    table off "edgemq mosquitto rumqttd" "Persistence off"
    off_fanin1=$(median_of fanin1 edgemq msg_per_s)
fi
if [ "$PERSISTENCE" != off ]; then
    RESULTS=$OUT/results-on.tsv
    : >"$RESULTS"
    run_all on edgemq edgemq-sync mosquitto
    table on "edgemq edgemq-sync mosquitto" \
        "Persistence on (edgemq batched, edgemq sync, mosquitto persistence true)" \
        -v off_fanin1="$off_fanin1"
fi
echo
echo "raw results and broker logs: $OUT" >&2
