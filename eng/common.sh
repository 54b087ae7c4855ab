# Shared by the scripts in eng/: messages, the Docker client, the machine's Debian mirror, debootstrapped images.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
is_debian_like() { [ -f /etc/debian_version ]; }

# The distribution's client lives in /usr/bin; prefer it over any other docker on PATH so client and
# engine agree on the API version.
docker_cli() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi; }

# start_engine LOG COMMAND...: starts a Docker engine (COMMAND runs dockerd) in the background, in a session of its own
# (setsid): started from a terminal (./run.sh) it would otherwise share the terminal's foreground process group, and
# Ctrl+C would stop it with every container on it. Used for the machine's engine and for private ones alike.
start_engine() {
  local log=$1
  shift
  setsid -f "$@" </dev/null >"$log" 2>&1
}

# The machine's own Debian mirror, as configured in its apt sources (deb822 or one-line format).
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  echo "$uri"
}

# debootstrap_image IMAGE PACKAGES SETUP [--copy FILE PATH]... [--change ...]: a Debian bookworm image built from the
# machine's mirror, no registry. Each --copy puts FILE at PATH inside the new root (a source SETUP builds); SETUP (may
# be empty) is a shell command run inside the new root before it becomes the image.
debootstrap_image() {
  local image=$1 packages=$2 setup=$3
  shift 3
  local copies=()
  while [ "${1:-}" = --copy ]; do
    copies+=("$2" "$3")
    shift 3
  done
  is_root || die "building $image offline needs root (debootstrap)"
  command -v debootstrap >/dev/null 2>&1 || { say "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }
  local mirror rootfs log
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d /var/tmp/executor-rootfs.XXXXXX)
  log=/var/tmp/executor-debootstrap-${image//[^a-z0-9]/-}.log
  say "building $image offline with debootstrap (bookworm: $packages) from the machine's Debian mirror"
  if ! debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$log" 2>&1; then
    rm -rf "$rootfs"
    die "debootstrap failed; see $log"
  fi
  local i
  for ((i = 0; i < ${#copies[@]}; i += 2)); do
    install -D -m 0644 "${copies[i]}" "$rootfs${copies[i + 1]}"
  done
  if [ -n "$setup" ] && ! chroot "$rootfs" /bin/sh -c "$setup" >>"$log" 2>&1; then
    rm -rf "$rootfs"
    die "setting up $image failed; see $log"
  fi
  # Nothing of apt's state or caches is needed at run time.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$(docker_cli)" import "$@" - "$image" >/dev/null
  rm -rf "$rootfs"
}
