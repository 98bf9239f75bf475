#!/bin/sh
# Make sure a Docker Engine answers; as root on Debian, install docker.io and
# mmdebstrap and start dockerd when needed. Prints one line and exits 1 when
# it cannot.
set -u
log=${MAMORI_DOCKERD_LOG:-/var/log/mamori-dockerd.log}

answers() { docker info >/dev/null 2>&1; }

need_packages=""
command -v mmdebstrap >/dev/null 2>&1 || need_packages="$need_packages mmdebstrap"
command -v dockerd >/dev/null 2>&1 || need_packages="$need_packages docker.io"
command -v docker >/dev/null 2>&1 || need_packages="$need_packages docker.io"
command -v iptables >/dev/null 2>&1 || need_packages="$need_packages iptables"

if [ -n "$need_packages" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        answers && exit 0
        echo "mamori: no Docker Engine answers and I cannot install one: as root on Debian run 'apt-get install docker.io mmdebstrap' and start dockerd, or set DOCKER_HOST" >&2
        exit 1
    fi
    echo "mamori: installing$need_packages (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends $need_packages; } >/tmp/mamori-apt.log 2>&1 || {
        echo "mamori: apt-get install$need_packages failed; see /tmp/mamori-apt.log" >&2
        exit 1
    }
fi

answers && exit 0

if [ -n "${DOCKER_HOST:-}" ]; then
    echo "mamori: the Docker Engine at DOCKER_HOST=$DOCKER_HOST does not answer; start it or unset DOCKER_HOST" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "mamori: no Docker Engine answers on /var/run/docker.sock; ask an administrator to start dockerd (or add you to the docker group)" >&2
    exit 1
fi
# Never start a second dockerd: if one runs but does not answer yet, wait for it.
# It runs in a session of its own (setsid), so a Ctrl-C on `make run` or `mamori
# serve` (SIGINT to the terminal's process group) never reaches it and every
# team's range stays up while the instructor restarts the server.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "mamori: starting dockerd (log: $log)"
    setsid nohup dockerd >"$log" 2>&1 </dev/null &
fi
i=0
while [ $i -lt 60 ]; do
    answers && exit 0
    i=$((i + 1))
    sleep 1
done
echo "mamori: dockerd did not answer within 60 s; see $log" >&2
exit 1
