# compare.sh --mqtt5 (sourced by it, not run): what MQTT 5.0 costs, edgemq
# beside mosquitto, each scenario with 3.1.1 clients and with 5.0 ones.
#
# Per round, each broker started fresh for each scenario, interleaved:
#   conns / connsv5      10k idle connections, one subscription each
#   fanin1 / fanin1v5    fan-in QoS 1, 4 -> 1
#   fanout / fanoutv5    fan-out QoS 0, 1 -> 100
# The v5 scenarios run `edgemq-bench --protocol 5`. Persistence off.

run_mqtt5() {
    local round tag name i port proto
    for round in $(seq 1 "$ROUNDS"); do
        echo "compare: MQTT 5.0 beside 3.1.1, round $round of $ROUNDS" >&2
        for tag in conns connsv5 fanin1 fanin1v5 fanout fanoutv5; do
            proto=4
            case $tag in *v5) proto=5 ;; esac
            i=0
            for name in edgemq mosquitto; do
                i=$((i + 1))
                port=$((PORT + i))
                case $tag in
                conns*) run_one "$tag" "$name" "$port" off --protocol "$proto" \
                    conns --count "$CONNS" --subscribe ;;
                fanin1*) run_one "$tag" "$name" "$port" off --protocol "$proto" \
                    fanin --count "$FANIN" --qos 1 ;;
                fanout*) run_one "$tag" "$name" "$port" off --protocol "$proto" \
                    fanout --count "$FANOUT" --subscribers 100 ;;
                esac
            done
        done
    done
}

RESULTS=$OUT/results-mqtt5.tsv
: >"$RESULTS"
run_mqtt5
table mqtt5 "edgemq mosquitto" "MQTT 5.0 beside 3.1.1 (persistence off)"
echo
echo "raw results and broker logs: $OUT" >&2
