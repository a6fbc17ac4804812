# compare.sh --observe (sourced, not run): what watching the broker costs
# (README.md ## Performance, docs/observability.md).
#
#   conns, fanin1, latency  edgemq-observe (sys_interval 10, event_topics
#                           true, admin_listener) against edgemq and
#                           mosquitto, persistence off: idle RSS, fan-in
#                           QoS 1 throughput and losses, latency at 10k msg/s
#   latency (edgemq-api)    edgemq-observe while 8 clients request
#                           /api/v1/clients in a loop (curl), against its
#                           own idle figure
#
# Every process is started here and stopped by its PID.

command -v curl >/dev/null || {
    echo "compare: installing curl" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq curl >/dev/null
}

API_PIDS=

# api_load PORT: 8 loops requesting the client list, PIDs in API_PIDS.
api_load() {
    local url="http://127.0.0.1:$(($1 + ADMIN_PORT_OFFSET))/api/v1/clients"
    local token i
    token=$(cat "$OUT/edgemq-observe-data/admin.token")
    API_PIDS=
    for i in 1 2 3 4 5 6 7 8; do
        (while :; do curl -s -o /dev/null -H "Authorization: Bearer $token" "$url" || sleep 0.1; done) &
        API_PIDS="$API_PIDS $!"
    done
}

stop_api_load() {
    local pid
    for pid in $API_PIDS; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    API_PIDS=
}

# run_api_latency PORT: edgemq-observe at 10k msg/s under API load,
# recorded as broker "edgemq-api".
run_api_latency() {
    local port=$1 line
    start_broker edgemq-observe "$port" off "$OUT" || return 0
    api_load "$port"
    if line=$("$BENCH" --port "$port" --pid "$BROKER_PID" --label edgemq-api --timeout 180 \
        latency --rate 10000 --seconds "$LAT_S" 2>>"$OUT/bench.err"); then
        printf 'latency\tedgemq-api\t%s\n' "$line" >>"$RESULTS"
        echo "  latency edgemq-api: $line" | cut -c1-220 >&2
    else
        echo "  latency edgemq-api: failed (see $OUT/bench.err)" >&2
    fi
    stop_api_load
    stop_broker
}

trap 'stop_api_load; stop_broker' EXIT INT TERM

RESULTS=$OUT/results-observe.tsv
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
    echo "compare: observe, round $round of $ROUNDS" >&2
    for tag in conns fanin1 latency; do
        i=0
        for name in edgemq-observe edgemq mosquitto; do
            i=$((i + 1))
            port=$((PORT + i))
            case $tag in
            conns) run_one conns "$name" "$port" off conns --count "$CONNS" --subscribe ;;
            fanin1) run_one fanin1 "$name" "$port" off fanin --count "$FANIN" --qos 1 ;;
            latency) run_one latency "$name" "$port" off latency --rate 10000 --seconds "$LAT_S" ;;
            esac
        done
    done
    run_api_latency $((PORT + 1))
done
table observe "edgemq-observe edgemq mosquitto" \
    "Watching: sys_interval 10, event_topics true, the admin API (persistence off)"
table observe-api "edgemq-api edgemq-observe" \
    "Latency while 8 clients poll /api/v1/clients"
echo
echo "raw results and broker logs: $OUT" >&2
