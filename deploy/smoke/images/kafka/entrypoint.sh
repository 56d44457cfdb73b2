#!/bin/sh
# Tansu started on the listeners the compose file gives apache/kafka: the PLAINTEXT ones
# of KAFKA_LISTENERS and KAFKA_ADVERTISED_LISTENERS, so clients in other containers reach
# it at the address it advertises. The other KAFKA_* settings have no Tansu equivalent.
set -eu

# "PLAINTEXT://:9092,CONTROLLER://:9093" -> "tcp://0.0.0.0:9092" (no host: every address).
plaintext_url() {
    listener=$(printf '%s\n' "$1" | tr ',' '\n' | sed -n 's|^PLAINTEXT://||p' | head -n 1)
    if [ -z "$listener" ]; then
        echo "kafka stand-in: no PLAINTEXT listener in '$1'" >&2
        return 1
    fi
    host=${listener%:*}
    echo "tcp://${host:-0.0.0.0}:${listener##*:}"
}

listen=$(plaintext_url "${KAFKA_LISTENERS:-PLAINTEXT://:9092}")
advertise=$(plaintext_url "${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}")
exec tansu broker --listener-url "$listen" --advertised-listener-url "$advertise" "$@"
