# Sourced by deploy/smoke/compose-smoke.sh, whose globals (readonly settings, state of the
# run) these functions use. Output, failure and waiting.

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

