#!/bin/sh
# The official image's redis-server is built with protected mode off: with no password and
# no bind address given, Debian's would refuse every client but those on loopback, i.e.
# every other container of the stack.
set -eu
if [ "${1:-}" = redis-server ]; then
    shift
    set -- redis-server "$@" --protected-mode no
fi
exec "$@"
