# compare.sh --recovery (sourced by it, not run): persistent sessions with
# queued messages across a restart, edgemq beside mosquitto, persistence
# on in both (edgemq batched, its default; mosquitto `persistence true`).
#
# Per round and broker, interleaved: a fresh broker and store;
# `edgemq-bench recovery setup` (RECOVERY_SESSIONS sessions with clean
# session 0, 3 QoS 1 subscriptions each, 10 QoS 1 messages of 64 bytes
# queued for each); the broker stopped with SIGTERM (each saves its store
# on the way out; no SIGKILL, however long that takes, up to 5 minutes)
# and started again on the same store; `edgemq-bench recovery drain`
# (its probe tries to connect every millisecond from the process start:
# the time to the first CONNACK; RSS a second later, before any session
# returns; then every session reconnects and reads its queue: the time
# until the last queue is empty, lost and duplicated messages).
#
# Queue caps: edgemq's max_queued_messages is 10 by default (exactly the
# queue here), mosquitto's 1000.

# stop_and_wait: SIGTERM, then wait (bounded) until the process is gone.
stop_and_wait() {
    [ -n "${BROKER_PID:-}" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 3000); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}

# recover_one NAME PORT: one round of one broker.
recover_one() {
    local name=$1 port=$2 line conf start_ns store
    local sizes=(--sessions "$RECOVERY_SESSIONS" --subscriptions 3 --queued 10 --size 64)
    start_broker "$name" "$port" on "$OUT" || return 0
    if ! line=$("$BENCH" --port "$port" --pid "$BROKER_PID" --label "$name" --timeout 600 \
        recovery setup "${sizes[@]}" 2>>"$OUT/bench.err"); then
        echo "  recovery $name: setup failed (see $OUT/bench.err)" >&2
        stop_broker
        return 0
    fi
    stop_and_wait
    store=$(du -sb "$OUT/$name-data" 2>/dev/null | cut -f1)
    line="${line%\}},\"store_bytes\":${store:-0}}"
    printf '%s\t%s\t%s\n' recovery-setup "$name" "$line" >>"$RESULTS"
    echo "  recovery-setup $name: $line" | cut -c1-220 >&2
    conf=$OUT/$name.conf
    [ "$name" = mosquitto ] && conf=$OUT/mosquitto.conf
    start_ns=$(date +%s%N)
    case $name in
    mosquitto) "$MOSQUITTO_BIN" -c "$conf" >>"$OUT/$name.log" 2>&1 & ;;
    *) "$EDGEMQ_BIN" -c "$conf" >>"$OUT/$name.log" 2>&1 & ;;
    esac
    BROKER_PID=$!
    if line=$("$BENCH" --port "$port" --pid "$BROKER_PID" --label "$name" --timeout 600 \
        recovery drain "${sizes[@]}" --started-unix-ns "$start_ns" 2>>"$OUT/bench.err"); then
        printf '%s\t%s\t%s\n' recovery "$name" "$line" >>"$RESULTS"
        echo "  recovery $name: $line" | cut -c1-220 >&2
    else
        echo "  recovery $name: drain failed (see $OUT/bench.err)" >&2
    fi
    stop_broker
}

RESULTS=$OUT/results-recovery.tsv
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
    echo "compare: recovery of $RECOVERY_SESSIONS sessions, round $round of $ROUNDS" >&2
    i=0
    for name in edgemq mosquitto; do
        i=$((i + 1))
        recover_one "$name" $((PORT + i))
    done
done
table recovery "edgemq mosquitto" \
    "Recovery: $RECOVERY_SESSIONS persistent sessions × 3 subscriptions × 10 queued QoS 1 messages across a restart (persistence on)"
echo
echo "raw results and broker logs: $OUT" >&2
