# Sourced by deploy/smoke/compose-smoke.sh, whose globals (readonly settings, state of the
# run) these functions use. What the running stack must do: the seed SMS once, the
# partition split, an enricher SIGKILLed while webhooks flow, a clean stop.

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

