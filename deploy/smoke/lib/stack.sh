# Sourced by deploy/smoke/compose-smoke.sh, whose globals (readonly settings, state of the
# run) these functions use. The stack up: compose with the override, every healthcheck, Prometheus's targets.

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

