#!/usr/bin/env bash
# Installs the system programs the lab needs, or says exactly what to install.
#
# As an ordinary user with a reachable Docker engine (Docker Desktop, Docker CE, rootless
# Docker) the lab needs nothing of the system's: it runs on that engine.  Otherwise it
# needs dockerd so labkit can start its own, the docker CLI, Docker Distribution
# (docker-registry) for the course registry and mirror, and busybox-static + debootstrap
# to build the base images offline.  Debian package names given as arguments are needed
# too (`make test` adds chromium, the browser its JupyterLab tests drive); PROGRAM=PACKAGE
# is needed only when PROGRAM is not on PATH (`node=nodejs`: a Node.js installed another
# way serves).  On Debian/Ubuntu as root the missing packages are installed with apt;
# anywhere else this script stops with the list to install.
set -euo pipefail

need=()
add() { case " ${need[*]-} " in *" $1 "*) ;; *) need+=("$1") ;; esac; }

within() {  # within SECONDS COMMAND…: COMMAND, stopped after SECONDS (no GNU `timeout` on a stock Mac)
    local seconds=$1; shift
    "$@" & local pid=$!
    ( sleep "$seconds"; kill "$pid" 2>/dev/null ) >/dev/null 2>&1 & local watch=$!
    local status=0
    wait "$pid" || status=$?
    kill "$watch" 2>/dev/null || true
    return "$status"
}

engine_reachable() {  # where labkit looks: DOCKER_HOST or the docker context, then rootless Docker's socket
    command -v docker >/dev/null 2>&1 || return 1
    within 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && return 0
    [ -z "${DOCKER_HOST-}" ] && [ "$(id -u)" -ne 0 ] && [ -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/docker.sock" ] \
        && DOCKER_HOST="unix://${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/docker.sock" within 10 docker version >/dev/null 2>&1
}

is_installed_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

own_engine=no
if [ "$(id -u)" -ne 0 ] && engine_reachable; then
    # An ordinary user with a Docker engine of their own (Docker Desktop, Docker CE's `docker`
    # group, rootless Docker): the lab runs on it, its registries as containers there. Nothing of
    # the system's is needed, but what the arguments add (the tests' browser).
    own_engine=yes
fi

if [ "$own_engine" = no ]; then
command -v docker >/dev/null 2>&1 || add docker.io
engine_reachable || command -v dockerd >/dev/null 2>&1 || add docker.io
command -v docker-registry >/dev/null 2>&1 || add docker-registry
command -v debootstrap >/dev/null 2>&1 || add debootstrap
command -v ip >/dev/null 2>&1 || add iproute2
# mkfs.ext4: a sandbox's disk, and the engine's data root where the lab's home is on overlayfs
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /sbin/mkfs.ext4 ] || [ -x /usr/sbin/mkfs.ext4 ] || add e2fsprogs
if command -v dpkg-query >/dev/null 2>&1; then
    is_installed_deb busybox-static || add busybox-static
else
    command -v busybox >/dev/null 2>&1 || add busybox-static
fi
fi
for extra in "$@"; do
    case "$extra" in
        *=*)  # PROGRAM=PACKAGE: needed only when no such program is on PATH (Node.js may come from elsewhere)
            command -v "${extra%%=*}" >/dev/null 2>&1 || add "${extra#*=}" ;;
        *)
            if command -v dpkg-query >/dev/null 2>&1; then
                is_installed_deb "$extra" || add "$extra"
            fi ;;
    esac
done

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release \
        && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "labkit: installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another install may hold apt's lock (unattended-upgrades, a second `make`): wait for it.
    wait_lock=(-o DPkg::Lock::Timeout=600)
    apt-get "${wait_lock[@]}" update -q >/dev/null
    apt-get "${wait_lock[@]}" install -y -q --no-install-recommends "${need[@]}" >/dev/null
    echo "labkit: installed ${need[*]}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ "$own_engine" = no ]; then
    cat >&2 <<MSG
labkit: no Docker engine you may use answers ('docker version' failed), and without one the lab
  needs system packages only root can install: ${need[*]}
  Either start Docker as yourself: Docker Desktop; Docker CE with your user in the 'docker' group
  (sudo usermod -aG docker \$USER, then log in again); or rootless Docker
  (dockerd-rootless-setuptool.sh install); then run this command again.
  Or run it with sudo: labkit then installs and starts an engine of its own.
MSG
    exit 1
fi

cat >&2 <<MSG
labkit: these system packages are missing: ${need[*]}
  On Debian or Ubuntu, as root:  apt-get update && apt-get install -y ${need[*]}
  (or run this command again with sudo).
  Elsewhere: install a Docker engine (Docker Desktop, or your distribution's docker
  package) and make sure 'docker version' reaches it; the offline base-image build
  also needs Docker Distribution ('registry'), busybox (static) and debootstrap.
MSG
exit 1
