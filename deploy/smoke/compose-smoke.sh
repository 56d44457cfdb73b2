#!/usr/bin/env bash
# `make compose-smoke`: docker-compose.yml run for real on a Debian 12 machine that reaches
# Debian's mirror and PyPI but no image registry. What it proves, its stand-ins and what it
# does not cover: docs/compose.md, "The smoke run".
#
# As root: it installs Debian's docker.io, docker-compose and debootstrap when missing and
# runs a dockerd of its own, stopped again at the end with everything it started.
#   COMPOSE_SMOKE_FRESH=1  start from nothing, as a new CI machine does: drop the images,
#                          build cache and wheelhouse kept from earlier runs
set -euo pipefail
set -E # the ERR trap in functions and subshells too

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly SMOKE_DIR=$ROOT/deploy/smoke
readonly HOST_PYTHON=$ROOT/.venv/bin/python
readonly PROJECT=kladana-smoke
# Kept between runs: the engine's images and build cache, and the wheelhouse.
readonly STATE_DIR=/var/lib/kladana-smoke
readonly RUN_DIR=/run/kladana-smoke
# A socket of its own, not /var/run/docker.sock: the test suite's broker fixture takes any
# engine answering there for one that can run Kafka's image, which none can here.
readonly DOCKER_SOCKET=$RUN_DIR/docker.sock
readonly DEBIAN_MIRROR=http://deb.debian.org/debian
readonly DEBIAN_IMAGE=kladana-smoke/debian:bookworm
readonly PYTHON_IMAGE=kladana-smoke/python:3.11-bookworm
readonly PIPELINE_IMAGE=kladana-pipeline:local # docker-compose.yml's x-pipeline-image
# Fixed, not a free port: the URL is a build argument, and a new one each run would rebuild
# the dependency layer every time.
readonly WHEELHOUSE_PORT=${COMPOSE_SMOKE_WHEELHOUSE_PORT:-28765}
readonly ENRICHERS=3
readonly NOTIFIERS=2
readonly SEED_DOCUMENT_ID=34efe2ee-015e-11e6-9464-e4de0000006b
readonly SEED_SMS="Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees has been handed over to the delivery service."
readonly WEBHOOKS_AT_LEAST=20

LOG_DIR=$(mktemp -d /tmp/kladana-smoke.XXXXXX)
readonly LOG_DIR
DOCKERD_PID=""
WHEELHOUSE=""
WHEELHOUSE_SERVER_PID=""
WEBHOOK_SENDER_PID=""
ROOTFS=""
PYTHON_VERSION=""
ADDED_POLICY_RC=""
STACK_UP=""
LOGS_SHOWN=""
INGEST_URL=""
PROMETHEUS_URL=""
SERVICES=()
STEP_TIMES=()
COVERED=()
STARTED_AT=$SECONDS

# The run's parts, in the order they run.
for part in output engine images stack checks; do
    # shellcheck source=/dev/null
    source "$SMOKE_DIR/lib/$part.sh"
done

# --- the end -----------------------------------------------------------------------------

report() {
    local service image upstream
    printf '\ncompose smoke run PASSED in %ss (docker-compose %s, engine %s)\n' \
        $((SECONDS - STARTED_AT)) "$(/usr/bin/docker-compose version --short)" \
        "$(docker version --format '{{.Server.Version}}')"
    printf '\nCovered:\n'
    printf '  - %s\n' "${COVERED[@]}"
    printf '\nReplaced, as no registry here provides the image (deploy/smoke/images/):\n'
    while IFS=$'\t' read -r service image; do
        upstream=$("$HOST_PYTHON" -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]["image"])' "$ROOT/docker-compose.yml" "$service")
        printf '  - %-10s %-24s -> %s\n' "$service" "$upstream" "$image"
    done < <(standins)
    printf '  - %-10s %-24s -> %s\n' "(base)" "python:3.11-slim" "$PYTHON_IMAGE (Debian's $PYTHON_VERSION)"
    cat << 'EOF'

Not covered:
  - Grafana (grafana/grafana): no stand-in, not started; its provisioning is checked by
    tests/unit/test_compose_observability.py only
  - the upstream images themselves: their own entrypoints and versions, apache/kafka's
    KRaft settings, data volume and kafka-topics.sh healthcheck (the stand-in broker keeps
    topics in memory and its healthcheck is Tansu's), topic retention as Kafka applies it
  - Docker Compose v2: this run uses Debian's docker-compose 1.29
EOF
    printf '\nStep times:\n'
    printf '  %s\n' "${STEP_TIMES[@]}"
    printf '\nLogs of this run: %s\n' "$LOG_DIR"
}

cleanup() {
    local status=$?
    trap - ERR
    set +e
    stop_wheelhouse_server
    [ -z "$WEBHOOK_SENDER_PID" ] || kill "$WEBHOOK_SENDER_PID" 2> /dev/null
    remove_added_policy_rc
    [ -z "$ROOTFS" ] || rm -rf "$ROOTFS"
    if [ -n "$STACK_UP" ]; then
        if [ "$status" != 0 ] && [ -z "$LOGS_SHOWN" ]; then
            local failing service
            mapfile -t failing < <(unhealthy_services)
            printf '\n--- the stack when the run failed\n' >&2
            compose ps >&2
            for service in "${failing[@]}"; do
                printf '\n--- last log lines of %s\n' "$service" >&2
                compose logs --no-color --tail=40 "$service" >&2
            done
        fi
        printf '\n==> Taking the stack down (docker-compose down -v)\n'
        compose down --volumes --remove-orphans > "$LOG_DIR/down.log" 2>&1
    fi
    stop_dockerd
    [ "$status" = 0 ] || printf '\ncompose-smoke: FAILED after %ss; logs of this run: %s\n' \
        $((SECONDS - STARTED_AT)) "$LOG_DIR" >&2
    exit "$status"
}

main() {
    [ "$(id -u)" = 0 ] || fail "run as root: it installs packages and runs dockerd"
    [ -x "$HOST_PYTHON" ] || fail "no $HOST_PYTHON: run it as make compose-smoke (make venv first)"
    trap 'on_error "$BASH_COMMAND" "$?"' ERR
    trap cleanup EXIT
    cd "$ROOT"
    step "Installing what is missing (Debian's docker.io, docker-compose, debootstrap)" install_missing_packages
    step "Starting a dockerd of this run's own" start_dockerd
    step "Debian bookworm base (debootstrap)" build_debian_base
    step "Python 3.11 base (Debian's python3.11)" build_python_base
    step "Wheelhouse of requirements.lock (downloaded on the host)" download_wheelhouse
    step "The project's Dockerfile with PYTHON_IMAGE=$PYTHON_IMAGE" build_pipeline_image
    step "Stand-ins for the upstream images (deploy/smoke/compose.smoke.yml)" build_standins
    step "docker-compose up (demo profile, Prometheus; no Grafana)" start_stack
    step "Every healthcheck" wait_until_healthy
    step "Prometheus scrapes every replica" check_prometheus_targets
    step "The seed webhook becomes one SMS" check_seed_sms
    step "The status command, and the enrichers' split of the partitions" check_enrichers_split_partitions
    step "An enricher SIGKILLed while webhooks flow" check_enricher_crash_recovery
    step "docker-compose stop: clean exits, in order" check_graceful_stop
    step "docker-compose down -v" take_stack_down
    report
}

main "$@"
