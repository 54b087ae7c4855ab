#!/usr/bin/env bash
# Builds Executor's service images without any registry, then hands over to docker-compose.
#
#   eng/compose-offline.sh build         base image (debootstrap) + services published self-contained + images
#   eng/compose-offline.sh up|down|...   docker-compose with the same arguments (the images must be built)
#
# The images get the tags docker-compose.yml names (executor-<service>:latest), so `docker-compose up --no-build`
# runs them exactly as it would run images built from the registry Dockerfiles.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=eng/common.sh
. "$here/common.sh"

base=${EXECUTOR_DOTNET_BASE:-executor-dotnet-base:bookworm}
postgres=${EXECUTOR_POSTGRES_IMAGE:-executor-postgres:15}
artifacts="$root/.artifacts/publish"

build() {
  "$here/prerequisites.sh" --compose
  if ! "$(docker_cli)" image inspect "$base" >/dev/null 2>&1; then
    # What a self-contained .NET service needs from the system: glibc, libstdc++, OpenSSL (crypto), CA certificates.
    debootstrap_image "$base" libssl3,libstdc++6,ca-certificates ""
  fi
  rm -rf "$artifacts"
  for service in Gateway SessionService RunnerService PrewarmService; do
    say "publishing $service (self-contained)"
    dotnet publish "$root/$service/$service.csproj" -c Release -r linux-x64 --self-contained true -o "$artifacts/$service" -v quiet -nologo >/dev/null
  done
  for service in Gateway SessionService RunnerService PrewarmService; do
    local name uid=1654
    name=$(echo "${service%Service}" | tr '[:upper:]' '[:lower:]')
    # Only the runner and the pool hold the Docker socket, which is root's on the host.
    case $service in RunnerService|PrewarmService) uid=0 ;; esac
    say "building image executor-$name:latest"
    DOCKER_BUILDKIT=0 "$(docker_cli)" build -q -f "$here/offline/Dockerfile" \
      --build-arg BASE_IMAGE="$base" --build-arg SERVICE="$service" --build-arg APP_UID="$uid" \
      -t "executor-$name:latest" "$artifacts" >/dev/null
  done
  if ! "$(docker_cli)" image inspect "$postgres" >/dev/null 2>&1; then
    # The distributed mode's store (eng/compose/central.yml with EXECUTOR_POSTGRES_IMAGE=executor-postgres:15).
    debootstrap_image "$postgres" postgresql-15,postgresql-client-15,util-linux "" \
      --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
      --change 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]'
    local container
    container=$("$(docker_cli)" create "$postgres")
    "$(docker_cli)" cp "$here/offline/postgres-entrypoint.sh" "$container:/usr/local/bin/postgres-entrypoint.sh"
    "$(docker_cli)" commit "$container" "$postgres" >/dev/null
    "$(docker_cli)" rm "$container" >/dev/null
  fi
  say "images built; run: eng/compose-offline.sh up -d --no-build"
}

case "${1:-}" in
  build) build ;;
  "") die "usage: eng/compose-offline.sh build | <docker-compose arguments>" ;;
  *) exec docker-compose -f "$root/docker-compose.yml" "$@" ;;
esac
