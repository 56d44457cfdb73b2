# Sourced by deploy/smoke/compose-smoke.sh, whose globals (readonly settings, state of the
# run) these functions use. The Docker engine of the run: packages, dockerd on its own socket.

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

