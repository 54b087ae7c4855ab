#!/usr/bin/env bash
# Makes sure everything Executor needs outside .NET is present: a reachable Docker engine and the
# runtime images that sandboxes run (python-3.11, python-3.11-data, the languages). Safe to run repeatedly; does nothing that is already done.
#
#   eng/prerequisites.sh            engine + runtime images
#   eng/prerequisites.sh --compose  also docker-compose (the tests check the compose file with it)
#   eng/prerequisites.sh --runsc    also gVisor: Debian's runsc, registered with the engine as runtime "runsc"
#   eng/prerequisites.sh --postgres also PostgreSQL (the distributed mode's store; eng/postgres.sh runs it)
#   eng/prerequisites.sh --browser  also Debian's chromium (the playground's browser test drives it headless)
#   eng/prerequisites.sh --test-clients  also the tests' JavaScript clients (tests/clients, from its lock file)
#   EXECUTOR_RUNTIME_IMAGE=name     the python-3.11 runtime's image (default executor-python:3.11)
#   EXECUTOR_DATA_RUNTIME_IMAGE=name the python-3.11-data runtime's image (default executor-python-data:3.11; empty: skip it)
#   EXECUTOR_LANGUAGES_IMAGE=name   the languages runtimes' image: C, C++, Java, JavaScript, bash (default executor-languages:1; empty: skip it)
#   EXECUTOR_RUNTIME_BUILD=offline|registry|auto   how to build the image when missing (default auto)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${EXECUTOR_RUNTIME_IMAGE:-executor-python:3.11}
data_image=${EXECUTOR_DATA_RUNTIME_IMAGE-executor-python-data:3.11}
languages_image=${EXECUTOR_LANGUAGES_IMAGE-executor-languages:1}
mode=${EXECUTOR_RUNTIME_BUILD:-auto}

# shellcheck source=eng/common.sh
. "$here/common.sh"

ensure_engine() {
  if command -v docker >/dev/null 2>&1 && "$(docker_cli)" info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if is_root && is_debian_like; then
      say "installing docker.io from the distribution"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq docker.io >/dev/null
    else
      die "no Docker engine is reachable and dockerd is not installed. Install Docker (https://docs.docker.com/engine/install/) or run this as root on Debian/Ubuntu."
    fi
  fi
  if ! "$(docker_cli)" info >/dev/null 2>&1; then
    is_root || die "dockerd is installed but not running, and only root can start it here: start it (e.g. 'sudo systemctl start docker') and retry."
    say "starting dockerd"
    mkdir -p /var/log
    # runc is the default runtime: crun fails on hosts with hybrid cgroups.
    start_engine /var/log/executor-dockerd.log dockerd
    for _ in $(seq 1 60); do
      "$(docker_cli)" info >/dev/null 2>&1 && break
      sleep 1
    done
    "$(docker_cli)" info >/dev/null 2>&1 || die "dockerd did not become ready in 60 s; see /var/log/executor-dockerd.log"
  fi
  say "docker engine ready ($("$(docker_cli)" version --format '{{.Server.Version}} API {{.Server.APIVersion}}'))"
}

registry_reachable() {
  [ -n "${registry_checked:-}" ] && return "$registry_ok"
  registry_checked=1
  registry_ok=1
  timeout 20 "$(docker_cli)" pull -q python:3.11-slim-bookworm >/dev/null 2>&1 && registry_ok=0
  return "$registry_ok"
}

# The runtimes (see RuntimeCatalog): python-3.11, the standard library only (the full python3 package: python3-minimal
# lacks json, asyncio, sqlite3, unittest...), and python-3.11-data, the same interpreter with numpy, pandas, scipy,
# matplotlib and pytest. Both have pip, for a run with egress to install packages into its work directory (Debian's
# python3-pip brings ca-certificates, the system's CA bundle, with it). Offline, each comes from Debian bookworm's own
# packages; with a registry, from its Dockerfile.
build_offline() {
  local image=$1 runtime=$2
  case $runtime in
    python-3.11)
      # pytest too: POST /execute_pytest runs in it.
      debootstrap_image "$image" python3,python3-pip,python3-pytest "$home_link" \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' ;;
    python-3.11-data)
      # matplotlib's font list, built once here: the launcher copies it into MPLCONFIGDIR (the root is read-only). No
      # documentation, and no C compiler (scipy's pythran pulls gcc in; nothing in a sandbox may compile): ~250 MB less.
      debootstrap_image "$image" python3,python3-pip,python3-numpy,python3-pandas,python3-scipy,python3-matplotlib,python3-pytest \
        "$home_link && MPLCONFIGDIR=/usr/share/executor/matplotlib MPLBACKEND=Agg python3 -c 'import matplotlib.pyplot' && chmod -R a+rX /usr/share/executor \
          && rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/lib/gcc/x86_64-linux-gnu/*/cc1* \
             /usr/lib/gcc/x86_64-linux-gnu/*/lto1 /usr/lib/x86_64-linux-gnu/lib*san.so*" \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' ;;
    languages)
      # One image for C, C++, Java, JavaScript and bash (python3 runs the launcher), with the launcher's measuring helper
      # (Sandbox/measure.c: a program's own peak memory, not the Python launcher's it was forked from). No documentation.
      debootstrap_image "$image" python3,gcc,g++,libc6-dev,openjdk-17-jdk-headless,nodejs \
        "$home_link && $measure_build && rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/*" \
        --copy "$here/../Sandbox/measure.c" /usr/local/src/executor-measure.c \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' ;;
  esac
}

# The measuring helper, static: the process it forks starts from its own few hundred kilobytes.
measure_build='mkdir -p /usr/local/libexec && gcc -O2 -static -o /usr/local/libexec/executor-measure /usr/local/src/executor-measure.c && rm /usr/local/src/executor-measure.c'
# Every language's tool chain, run as a program of the sandbox runs it (a small program each), and the measuring helper.
languages_check='import os, subprocess, tempfile
os.chdir(tempfile.mkdtemp())
sources = {"a.c": "#include <stdio.h>\nint main(void) { puts(\"c\"); return 0; }\n",
           "b.cpp": "#include <iostream>\nint main() { std::cout << \"c++\" << std::endl; }\n",
           "Main.java": "public class Main { public static void main(String[] a) { System.out.println(\"java\"); } }\n"}
for name, text in sources.items():
    open(name, "w").write(text)
def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
run("gcc", "-o", "a", "a.c"); run("g++", "-o", "b", "b.cpp"); run("javac", "Main.java")
r, w = os.pipe()
assert subprocess.run(["/usr/local/libexec/executor-measure", str(w), "./a"], pass_fds=[w], capture_output=True, text=True).stdout == "c\n"
os.close(w)
assert len(os.read(r, 100).split()) == 3
got = [run("./b"), run("java", "-cp", ".", "Main"), run("node", "-e", "console.log(\"js\")"), run("bash", "-c", "echo sh")]
assert got == ["c++\n", "java\n", "js\n", "sh\n"], got
assert os.readlink("/home/user") == "/sandbox"'

# E2B's clients (and the code agents write for them) use /home/user, E2B's working directory: in every image it is
# /sandbox, the sandbox's own working directory, under that name too.
home_link='mkdir -p /home && ln -sfn /sandbox /home/user'
home_check='import os; assert os.readlink("/home/user") == "/sandbox"'
# pip, run as a script runs it (an image built before runs with egress lacks it).
pip_check='import subprocess, sys; subprocess.run([sys.executable, "-m", "pip", "--version"], check=True, capture_output=True)'

build_registry() {
  local image=$1 runtime=$2 context=$here/runtimes/$runtime
  say "building $image from eng/runtimes/$runtime/Dockerfile"
  if [ "$runtime" = languages ]; then  # its build compiles the measuring helper, whose source is the launcher's neighbour
    context=$(mktemp -d)
    cp "$here/runtimes/languages/Dockerfile" "$here/../Sandbox/measure.c" "$context/"
  fi
  "$(docker_cli)" build -q -t "$image" "$context" >/dev/null
  [ "$context" = "$here/runtimes/$runtime" ] || rm -rf "$context"
}

# ensure_image IMAGE RUNTIME CHECK: builds the image when it is missing, or lacks what CHECK (Python) imports (an image
# built by an older version of this script), then runs CHECK in it.
ensure_image() {
  local image=$1 runtime=$2 check=$3
  if "$(docker_cli)" image inspect "$image" >/dev/null 2>&1; then
    if "$(docker_cli)" run --rm --network none "$image" python3 -c "$check" >/dev/null 2>&1; then
      say "runtime image $image present ($runtime)"
      return 0
    fi
    say "runtime image $image lacks what the $runtime runtime needs now: rebuilding it"
  fi
  case "$mode" in
    offline) build_offline "$image" "$runtime" ;;
    registry) build_registry "$image" "$runtime" ;;
    auto) if registry_reachable; then build_registry "$image" "$runtime"; else build_offline "$image" "$runtime"; fi ;;
    *) die "EXECUTOR_RUNTIME_BUILD must be offline, registry or auto" ;;
  esac
  "$(docker_cli)" run --rm --network none "$image" python3 -c "$check" \
    || die "runtime image $image lacks what the $runtime runtime needs"
  say "runtime image $image built ($runtime)"
}

ensure_images() {
  ensure_image "$image" python-3.11 "import json, asyncio, sqlite3, unittest, ssl, uuid, pytest; $home_check; $pip_check"
  [ -n "$data_image" ] || return 0
  ensure_image "$data_image" python-3.11-data \
    "import json, asyncio, sqlite3, numpy, pandas, scipy, matplotlib, pytest; matplotlib.use('Agg'); import matplotlib.pyplot; $home_check; $pip_check"
  [ -n "$languages_image" ] || return 0
  ensure_image "$languages_image" languages "$languages_check"
}

ensure_compose() {
  command -v docker-compose >/dev/null 2>&1 && return 0
  if is_root && is_debian_like; then
    say "installing docker-compose from the distribution"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    die "docker-compose is not installed"
  fi
}

# gVisor's runsc, registered with the engine: /etc/docker/daemon.json gains a "runsc" runtime (its other settings are
# kept), then the engine reloads its configuration (SIGHUP: no restart, running containers untouched). The runtime
# arguments: --network=none, since runsc cannot share the host's network namespace (every start fails without it; the
# sandboxes have no network anyway); --oci-seccomp, so gVisor applies Executor's seccomp profile inside the sandbox too
# (it ignores it otherwise). The ptrace platform (the default) works here; KVM hung.
ensure_runsc() {
  local config=/etc/docker/daemon.json
  if ! command -v runsc >/dev/null 2>&1; then
    is_root && is_debian_like || die "gVisor (runsc) is not installed: see https://gvisor.dev/docs/user_guide/install/"
    say "installing runsc (gVisor) from the distribution"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null
  fi
  if "$(docker_cli)" info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
    say "runtime runsc registered"
    return 0
  fi
  is_root || die "registering runsc with the engine needs root (it edits $config)"
  command -v jq >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
  local runsc current
  runsc=$(command -v runsc)
  current='{}'
  [ -s "$config" ] && current=$(cat "$config")
  mkdir -p "$(dirname "$config")"
  jq --arg path "$runsc" '.runtimes.runsc = {path: $path, runtimeArgs: ["--network=none", "--oci-seccomp"]}' <<<"$current" >"$config.executor-new"
  mv "$config.executor-new" "$config"
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -o -x dockerd)
  [ -n "$pid" ] || die "cannot find the engine's process to reload its configuration; restart it to pick up runsc"
  say "registering runsc with the engine (reloading its configuration)"
  kill -HUP "$pid"
  for _ in $(seq 1 30); do
    "$(docker_cli)" info --format '{{json .Runtimes}}' | grep -q '"runsc"' && break
    sleep 1
  done
  "$(docker_cli)" info --format '{{json .Runtimes}}' | grep -q '"runsc"' || die "the engine did not pick up runsc; see $config"
  "$(docker_cli)" run --rm --runtime runsc --network none "$image" python3 -c 'print("gVisor ready")' >/dev/null \
    || die "a sandbox under runsc failed to start"
  say "runtime runsc registered"
}

ensure_browser() {
  if [ -x /usr/bin/chromium ]; then
    say "chromium present"
    return 0
  fi
  is_root && is_debian_like || die "headless Chromium is needed at /usr/bin/chromium (Debian package chromium)"
  say "installing chromium from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# The real clients the end-to-end tests drive Executor with, installed here so that no test reaches beyond the machine.
ensure_test_clients() {
  local clients="$here/../tests/clients"
  command -v npm >/dev/null 2>&1 || die "npm (and Node 18+) is needed for the tests' JavaScript clients"
  # JupyterLab's own server (Debian's: /usr/bin/python3 -m jupyter_server), which a test points at Executor as its kernel gateway.
  if ! /usr/bin/python3 -c "import jupyter_server" >/dev/null 2>&1; then
    is_root && is_debian_like || die "Jupyter Server (python3-jupyter-server) is needed for the Jupyter gateway test"
    say "installing Jupyter Server from the distribution"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jupyter-server >/dev/null
  fi
  if [ -f "$clients/node_modules/.package-lock.json" ] && [ "$clients/node_modules/.package-lock.json" -nt "$clients/package-lock.json" ]; then
    say "test clients present"
    return 0
  fi
  say "installing the tests' JavaScript clients (piston-client, the MCP TypeScript SDK, puppeteer-core, E2B's SDKs, @jupyterlab/services)"
  (cd "$clients" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --silent >/dev/null)
}

ensure_postgres() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    say "PostgreSQL present ($(ls -d /usr/lib/postgresql/*/ | xargs -n1 basename | sort -V | tail -n 1))"
    return 0
  fi
  is_root && is_debian_like || die "PostgreSQL 15 or later is required for the distributed mode (or set ConnectionStrings__executor)"
  say "installing postgresql from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian starts a cluster of its own at install; Executor runs its own, in its data folder.
  command -v pg_ctlcluster >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | while read -r version name _; do
    pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
  done
}

ensure_engine
ensure_images
for option in "$@"; do
  case $option in
    --compose) ensure_compose ;;
    --runsc) ensure_runsc ;;
    --postgres) ensure_postgres ;;
    --browser) ensure_browser ;;
    --test-clients) ensure_test_clients ;;
    *) die "unknown option $option (use --compose, --runsc, --postgres, --browser, --test-clients)" ;;
  esac
done
