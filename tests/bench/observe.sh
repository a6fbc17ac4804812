# compare.sh --observe (sourced, not run): what watching the broker costs
# (README.md ## Performance, docs/observability.md).
#
#   conns, fanin1, latency  edgemq-observe (sys_interval 10, event_topics
#                           true, admin_listener) against edgemq and
#                           mosquitto, persistence off: idle RSS, fan-in
#                           QoS 1 throughput and losses, latency at 10k msg/s
#   latency (edgemq-api)    edgemq-observe while 8 clients request
#                           /api/v1/clients in a loop without pause
#                           (`edgemq-bench api-poll`: one process, one
#                           connection per request), against its own idle
#                           figure; the poller's answers, their rate and
#                           time are the "api" rows
#
# Every process is started here and stopped by its PID.

API_PID=

# The poller outlasts the latency run it loads (connections, warm-up,
# LAT_S of traffic, the last messages' wait); it ends on its own.
API_POLL_S=$((LAT_S + 10))

# api_load PORT: 8 pollers of the client list in one process, its PID in
# API_PID, its JSON line into $OUT/api-poll.json.
api_load() {
    local url="http://127.0.0.1:$(($1 + ADMIN_PORT_OFFSET))/api/v1/clients"
    "$BENCH" --label edgemq-api --timeout $((API_POLL_S + 30)) \
        api-poll --url "$url" --token-file "$OUT/edgemq-observe-data/admin.token" \
        --clients 8 --seconds "$API_POLL_S" >"$OUT/api-poll.json" 2>>"$OUT/bench.err" &
    API_PID=$!
    # Polling is under way before the first MQTT message is timed.
    sleep 1
}

# stop_api_load: waits for the poller (bounded by its --seconds), then
# records its line; killed by its PID only if it overstays.
stop_api_load() {
    [ -n "${API_PID:-}" ] || return 0
    local i
    for i in $(seq 1 $((API_POLL_S * 10 + 300))); do
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$API_PID" 2>/dev/null || true
    if wait "$API_PID" && [ -s "$OUT/api-poll.json" ]; then
        printf 'api\tedgemq-api\t%s\n' "$(cat "$OUT/api-poll.json")" >>"$RESULTS"
        echo "  api edgemq-api: $(cut -c1-200 "$OUT/api-poll.json")" >&2
    else
        echo "  api edgemq-api: failed (see $OUT/bench.err)" >&2
    fi
    API_PID=
}

# kill_api_load: at an early exit, the poller by its PID, unrecorded.
kill_api_load() {
    [ -n "${API_PID:-}" ] || return 0
    kill -KILL "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
    API_PID=
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

trap 'kill_api_load; stop_broker' EXIT INT TERM

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
