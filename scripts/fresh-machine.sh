#!/usr/bin/env bash
# Proves the README's two commands on a minimal Debian 12, so that what a developer's machine
# happens to have installed cannot hide a missing install step. Run it before resolving an issue
# that touches installation; it is not part of `make test` (it installs everything from nothing,
# which takes long: docs/benchmarks.md).
#
# It runs on the lab's own engine (start it first: `.venv/bin/labkit up --managed`): an image of
# the mirror's debian:bookworm-slim (itself built from Debian's packages) with only python3,
# python3-venv, pip, make, git, ca-certificates, iproute2, procps and curl; in a container of it,
# a fresh clone of this checkout (committed work only, with ../shared beside it, as CI lays it out)
# runs `make test`, then `make lab` must answer its URL. The container runs an engine of its own,
# so it gets the capabilities a nested dockerd needs (see ../shared/FACTS.md). Its log is kept in
# .cache/fresh-machine/.
#
#   scripts/fresh-machine.sh            # both commands
#   scripts/fresh-machine.sh test       # only `make test` (or: lab)
#   scripts/fresh-machine.sh all bare   # the lab on the container's own overlayfs root: no volume
#                                       # over the lab home, no tmpfs over /tmp (as a user's container)
#   PYTEST_ADDOPTS=tests/integration/test_hub.py scripts/fresh-machine.sh test   # some tests only
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
shared=$(cd .. && pwd)/shared
what=${1:-all}
bare=${2:-}
labkit=.venv/bin/labkit
[ -x "$labkit" ] || { echo "fresh-machine: run \`make venv\` and \`$labkit up --managed\` first" >&2; exit 2; }
eval "$("$labkit" env)" || { echo "fresh-machine: the lab is not up: run \`$labkit up --managed\`" >&2; exit 2; }
[ -d "$shared" ] || { echo "fresh-machine: no $shared beside the checkout (CI lays one there)" >&2; exit 2; }

image=labkit-fresh-debian12
name=labkit-fresh-$$
logs=$repo/.cache/fresh-machine
mkdir -p "$logs"
log=$logs/$(date +%Y%m%d-%H%M%S).log

docker pull -q debian:bookworm-slim >/dev/null
docker build -q -t "$image" - >/dev/null <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        python3 python3-venv python3-pip make git ca-certificates iproute2 procps curl \
    && rm -rf /var/lib/apt/lists/*
DOCKERFILE

inside=$(cat <<'SCRIPT'
set -euo pipefail
if [ -d /host-cas ]; then cp /host-cas/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; fi
git config --global --add safe.directory '*'
git clone -q /src /work/main
cp -r /shared-ro /work/shared
cd /work/main
if [ "$WHAT" = all ] || [ "$WHAT" = test ]; then
    echo "=== make test"
    CI=true make test
fi
if [ "$WHAT" = all ] || [ "$WHAT" = lab ]; then
    echo "=== make lab"
    make lab > /tmp/lab.log 2>&1 &
    lab=$!
    for _ in $(seq 1 600); do
        kill -0 "$lab" 2>/dev/null || break  # `make lab` ended without serving: say why below
        url=$(grep -Eo 'http://(127\.0\.0\.1|localhost):[0-9]+/lab[^ ]*' /tmp/lab.log | head -1 || true)
        if [ -n "$url" ] && curl -fsS -o /dev/null "$url"; then
            echo "make lab answered $url after $SECONDS s"
            .venv/bin/labkit down >/dev/null
            exit 0
        fi
        sleep 1
    done
    cat /tmp/lab.log
    echo "make lab did not answer (it ended, or took over 600 s)"
    exit 1
fi
SCRIPT
)

# The machines this project runs on reach the package registries through a proxy whose CA they
# trust: the container gets the machine's added CAs (installed with update-ca-certificates), and the variables that point pip and requests
# at it, as a fresh machine of the same kind has them. Nothing else of this machine goes in.
trust=()
cas=/usr/local/share/ca-certificates
[ -d "$cas" ] && trust+=(-v "$cas:/host-cas:ro")
for var in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE PYTEST_ADDOPTS; do
    [ -n "${!var-}" ] && trust+=(-e "$var=${!var}")
done

# A nested dockerd needs the capabilities a privileged container has; this machine lacks one
# (SYS_RESOURCE), which Engine 20.10 must be told to leave out and Engine 28 leaves out itself.
# It also writes /proc/sys (Engine 28 sets each container's IPv6 there): systempaths=unconfined.
# Unless `bare`, the lab home (`make lab`'s default, ~/.local/share/labkit) gets a volume and /tmp a
# tmpfs, as a careful user would give them; bare, everything is on the container's own overlayfs
# root, where labkit gives its engine a data root of its own (docs/architecture.md).
# The sandboxes' rootless engines need /dev/net/tun (slirp4netns); no loop device is given, so the
# sandboxes' disks are tmpfs and, bare, the engine's data root falls back to overlay-less storage.
caps=(--cap-add=ALL --device /dev/net/tun)
places=(--tmpfs /tmp:exec,dev -v /root/.local/share)  # dev: the tests make tun nodes in /tmp
[ "$bare" = bare ] && places=()
[ "$(docker version --format '{{.Server.Version}}' | cut -d. -f1)" -lt 23 ] && caps+=(--cap-drop=SYS_RESOURCE)

status=0
docker run --name "$name" --rm \
    "${caps[@]}" --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    -v /sys/fs/cgroup:/sys/fs/cgroup --tmpfs /run "${places[@]}" \
    -v "$repo:/src:ro" -v "$shared:/shared-ro:ro" -e WHAT="$what" "${trust[@]}" \
    "$image" bash -c "$inside" > "$log" 2>&1 || status=$?
tail -n 25 "$log"
echo "fresh-machine: exit $status; the whole log is $log"
exit "$status"
