# Broker configs, start and stop for compare.sh (sourced, not run).
#
# Equivalent settings on 127.0.0.1: anonymous MQTT 3.1.1, room for 10k
# clients, each broker otherwise at its shipped defaults (mosquitto's
# max_inflight_messages 20 / max_queued_messages 1000, edgemq's 20 / 10,
# rumqttd's sample config), logging only warnings. With TLS_DIR set
# (compare.sh --tls), edgemq and mosquitto also listen with TLS on
# PORT + TLS_PORT_OFFSET, with TLS_DIR's server.pem and server.key and
# otherwise their default TLS settings. Every process is started here and
# stopped by its PID.

TLS_PORT_OFFSET=100
# edgemq-observe's admin API listens on PORT + this.
ADMIN_PORT_OFFSET=200

# tls_listener PORT: the TLS listener's lines (same keys in both brokers).
tls_listener() {
    [ -n "${TLS_DIR:-}" ] || return 0
    echo "listener $(($1 + TLS_PORT_OFFSET)) 127.0.0.1"
    echo "certfile $TLS_DIR/server.pem"
    echo "keyfile $TLS_DIR/server.key"
}

# write_config NAME PORT PERSIST DIR -> prints the config path
write_config() {
    local name=$1 port=$2 persist=$3 dir=$4
    case $name in
    edgemq | edgemq-sync | edgemq-observe)
        local conf=$dir/$name.conf
        {
            # Before the listener: the global ceiling (after it, a cap of
            # that listener alone).
            echo "max_connections $BENCH_MAX_CONNS"
            echo "listener $port 127.0.0.1"
            echo "allow_anonymous true"
            echo "max_sessions $((BENCH_MAX_CONNS * 2))"
            echo "log_level warn"
            # tests/bench/acl.sh: the same broker with an ACL file.
            [ -n "${EDGEMQ_ACL_FILE:-}" ] && echo "acl_file $EDGEMQ_ACL_FILE"
            if [ "$persist" = on ]; then
                echo "persistence true"
                echo "persistence_location $dir/$name-data/"
                [ "$name" = edgemq-sync ] && echo "persistence_sync true"
            else
                echo "persistence false"
            fi
            # compare.sh --observe: watched as the shipped config does,
            # events on too; the API's token goes to the store directory.
            if [ "$name" = edgemq-observe ]; then
                echo "sys_interval 10"
                echo "event_topics true"
                echo "admin_listener 127.0.0.1:$((port + ADMIN_PORT_OFFSET))"
                [ "$persist" = on ] || echo "persistence_location $dir/$name-data/"
            fi
            tls_listener "$port"
        } >"$conf"
        echo "$conf"
        ;;
    mosquitto)
        local conf=$dir/mosquitto.conf
        {
            echo "listener $port 127.0.0.1"
            echo "allow_anonymous true"
            echo "max_connections -1"
            echo "log_dest stderr"
            echo "log_type error"
            echo "log_type warning"
            echo "connection_messages false"
            if [ "$persist" = on ]; then
                echo "persistence true"
                echo "persistence_location $dir/mosquitto-data/"
                # Started as root it would drop to the mosquitto user, who
                # cannot write the store directory made here: it would
                # save nothing ("Permission denied" in its log).
                echo "user root"
                mkdir -p "$dir/mosquitto-data"
            else
                echo "persistence false"
            fi
            tls_listener "$port"
        } >"$conf"
        echo "$conf"
        ;;
    rumqttd)
        # rumqttd 0.20's sample config (rumqttd.toml in the crate), v4 server
        # only, on our port, with room for 10k clients. It keeps its
        # next_connection_delay_ms = 1, which caps its accept rate near
        # 1k/s (0.9k/s measured); no persistence exists in rumqttd.
        local conf=$dir/rumqttd.toml
        cat >"$conf" <<TOML
id = 0

[router]
id = 0
max_connections = $BENCH_MAX_CONNS
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
TOML
        echo "$conf"
        ;;
    esac
}

# port_open PORT: true once something accepts on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_broker NAME PORT PERSIST DIR: starts it fresh (empty store), sets
# BROKER_PID, waits (bounded) until it listens.
start_broker() {
    local name=$1 port=$2 persist=$3 dir=$4 conf
    # Something already listening there (another compare.sh on the same
    # BENCH_PORT) would be measured instead of our broker, and our
    # generator would load theirs.
    if port_open "$port"; then
        echo "compare: 127.0.0.1:$port is already in use (another benchmark? set BENCH_PORT); $name skipped" >&2
        return 1
    fi
    rm -rf "${dir:?}/$name-data" "$dir/mosquitto-data"
    conf=$(write_config "$name" "$port" "$persist" "$dir")
    case $name in
    edgemq | edgemq-sync | edgemq-observe) "$EDGEMQ_BIN" -c "$conf" >>"$dir/$name.log" 2>&1 & ;;
    mosquitto) "$MOSQUITTO_BIN" -c "$conf" >>"$dir/$name.log" 2>&1 & ;;
    rumqttd) "$RUMQTTD_BIN" -c "$conf" >>"$dir/$name.log" 2>&1 & ;;
    esac
    BROKER_PID=$!
    local i
    for i in $(seq 1 100); do
        if port_open "$port"; then
            sleep 0.3 # let it finish starting before its idle RSS is read
            return 0
        fi
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "compare: $name exited at start; see $dir/$name.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "compare: $name did not listen on $port within 10 s" >&2
    stop_broker
    return 1
}

# stop_broker: TERM, then KILL after 5 s, the broker this script started.
stop_broker() {
    [ -n "${BROKER_PID:-}" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}
