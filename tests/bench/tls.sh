# compare.sh --tls (sourced by it, not run): the cost of TLS, edgemq beside
# mosquitto, with the same certificate.
#
# Per round, each broker started fresh for each scenario, interleaved:
#   handshakes   TLS 1.3 full handshake, CONNECT, CONNACK, DISCONNECT, close,
#                64 in flight (`edgemq-bench --tls CA handshakes`)
#   cycles       the same over plain TCP, for what TLS adds
#   fanin1       fan-in QoS 1, 4 -> 1, over TCP
#   fanin1tls    the same over TLS
#   rss_tcp/tls  RSS per idle connection, 1,000 clients (tls_idle_rss.py,
#                Python's OpenSSL client), both brokers
# The generator sends an X25519 key share, as OpenSSL and Python do, and
# checks the server's certificate; resumption is off (every handshake is a
# full one).

# make_pki DIR KIND: a CA and a server certificate for localhost and
# 127.0.0.1, both with KIND keys (ecdsa: P-256, rsa: 2048 bits), readable
# by a broker that drops root.
make_pki() {
    local dir=$1 kind=$2
    local alg
    case $kind in
    ecdsa) alg=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) alg=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048) ;;
    esac
    (
        cd "$dir" &&
            openssl genpkey "${alg[@]}" -out ca.key &&
            openssl req -x509 -new -key ca.key -subj "/CN=edgemq bench CA" -days 2 -out ca.pem &&
            openssl genpkey "${alg[@]}" -out server.key &&
            openssl req -new -key server.key -subj "/CN=localhost" -out server.csr &&
            printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext &&
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -days 2 -extfile server.ext -out server.pem
    ) >"$OUT/pki.log" 2>&1 || { cat "$OUT/pki.log" >&2; return 1; }
    chmod 755 "$dir"
    chmod 644 "$dir"/*
}

# idle_rss: one run of tls_idle_rss.py, its lines added to RESULTS as
# rss_tcp / rss_tls.
idle_rss() {
    local line broker transport
    python3 "$HERE/tls_idle_rss.py" --edgemq "$EDGEMQ_BIN" --mosquitto "$MOSQUITTO_BIN" \
        --certs "$TLS_DIR" -n "$RSS_CLIENTS" --json 2>>"$OUT/bench.err" |
        while read -r line; do
            broker=$(echo "$line" | grep -o '"broker":"[a-z]*"' | cut -d'"' -f4)
            transport=$(echo "$line" | grep -o '"transport":"[a-z]*"' | cut -d'"' -f4)
            printf 'rss_%s\t%s\t%s\n' "$transport" "$broker" "$line" >>"$RESULTS"
            echo "  rss_$transport $broker: $line" >&2
        done
}

# run_tls: every TLS scenario, rounds × brokers interleaved.
run_tls() {
    local round tag name i port ca=$TLS_DIR/ca.pem
    for round in $(seq 1 "$ROUNDS"); do
        echo "compare: TLS ($TLS_KEY certificate), round $round of $ROUNDS" >&2
        for tag in handshakes cycles fanin1 fanin1tls; do
            i=0
            for name in edgemq mosquitto; do
                i=$((i + 1))
                port=$((PORT + i))
                case $tag in
                handshakes) CLIENT_PORT=$((port + TLS_PORT_OFFSET)) run_one "$tag" "$name" "$port" off \
                    --tls "$ca" handshakes --count "$HANDSHAKES" ;;
                cycles) run_one "$tag" "$name" "$port" off handshakes --count "$HANDSHAKES" ;;
                fanin1) run_one "$tag" "$name" "$port" off fanin --count "$FANIN" --qos 1 ;;
                fanin1tls) CLIENT_PORT=$((port + TLS_PORT_OFFSET)) run_one "$tag" "$name" "$port" off \
                    --tls "$ca" fanin --count "$FANIN" --qos 1 ;;
                esac
            done
        done
        idle_rss
    done
}

TLS_DIR=$(mktemp -d /tmp/edgemq-bench-pki.XXXXXX)
make_pki "$TLS_DIR" "$TLS_KEY"
RESULTS=$OUT/results-tls.tsv
: >"$RESULTS"
run_tls
case $TLS_KEY in
ecdsa) cert_name="ECDSA P-256" ;;
rsa) cert_name="RSA 2048" ;;
esac
table tls "edgemq mosquitto" "TLS 1.3 ($cert_name certificate, X25519 key share)" \
    -v tcp_fanin1="$(median_of fanin1 edgemq msg_per_s)"
echo
echo "raw results and broker logs: $OUT" >&2
