#!/usr/bin/env bash
# A Docker engine of Executor's own beside the machine's: its own socket, data root, exec root, pid file and
# containerd, in a network namespace of its own (a dockerd started with --bridge=none deletes the host's docker0, the
# machine engine's bridge), no bridge, no iptables. For a second runner host on one machine, and for tests that must
# stop or break an engine without touching the machine's. The runtime images are copied in from the machine's engine.
#
#   eng/private-engine.sh start NAME [IMAGE...]   start it in the background (again: same data), with the images it lacks
#   eng/private-engine.sh run NAME [IMAGE...]     the same in the foreground; SIGTERM/SIGINT stop it (for the AppHost)
#   eng/private-engine.sh stop NAME               stop it (its containers die with it); its data is kept
#   eng/private-engine.sh wipe NAME               stop it and delete its data
#   eng/private-engine.sh endpoint NAME           print its endpoint (unix:///var/tmp/executor-engines/NAME/docker.sock)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=eng/common.sh
. "$here/common.sh"

command=${1:-}
name=${2:-}
[ -n "$command" ] && [ -n "$name" ] || die "usage: eng/private-engine.sh start|run|stop|wipe|endpoint NAME [IMAGE...]"
[[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "NAME must be lowercase letters, digits and dashes"
shift 2
root=/var/tmp/executor-engines/$name
socket=$root/docker.sock
pidfile=$root/docker.pid
endpoint=unix://$socket

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# What a dockerd killed before it could clean up leaves mounted under its root (its data root, overlays, netns).
unmount_all() {
  awk -v root="$root" '$2 == root || index($2, root "/") == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
}

stop() {
  rm -f "$root/ready"
  running || return 0
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  die "private engine $name (pid $pid) did not stop within 60 s"
}

start() {
  is_root || die "a private Docker engine needs root"
  stop
  mkdir -p "$root"
  rm -f "$root/ready"
  unmount_all
  local engine=(unshare --net -- dockerd --host "$endpoint" --data-root "$root/data" --exec-root "$root/exec"
    --pidfile "$pidfile" --bridge none --iptables=false --ip-masq=false --userland-proxy=false
    --cgroup-parent "/executor-private-$name" --shutdown-timeout 2 --log-level warn)
  if [ "$command" = run ]; then
    # In the foreground for an orchestrator (the AppHost), the engine is this script's child: it lives and stops with
    # the script, which the orchestrator starts and stops as it would any service.
    "${engine[@]}" </dev/null >"$root/dockerd.log" 2>&1 &
  else
    start_engine "$root/dockerd.log" "${engine[@]}"
  fi
  for _ in $(seq 1 300); do
    "$(docker_cli)" -H "$endpoint" info >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$(docker_cli)" -H "$endpoint" info >/dev/null 2>&1 || die "private engine $name did not start; see $root/dockerd.log"
  local image
  for image in "$@"; do
    "$(docker_cli)" -H "$endpoint" image inspect "$image" >/dev/null 2>&1 && continue
    if ! "$(docker_cli)" image inspect "$image" >/dev/null 2>&1; then
      say "image $image is not on the machine's engine either: the private engine goes without it"
      continue
    fi
    "$(docker_cli)" save "$image" | "$(docker_cli)" -H "$endpoint" load -q >/dev/null
  done
  # The AppHost's health check of this engine (services on it start only then): every image is loaded.
  touch "$root/ready"
  say "private engine $name ready at $endpoint"
}

case $command in
  start) start "$@" ;;
  run)
    start "$@"
    trap 'stop; exit 0' TERM INT
    while running; do sleep 1; done
    die "private engine $name stopped by itself; see $root/dockerd.log"
    ;;
  stop) stop ;;
  wipe) stop; unmount_all; rm -rf "$root" ;;
  endpoint) echo "$endpoint" ;;
  *) die "unknown command $command" ;;
esac
