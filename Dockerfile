# userapi: the container image: the single binary built with kodev, run on slim Debian with only its libraries.
#
# Both stages install their packages from packages.txt by role (build for the
# builder, image for the runtime); no package is named here. The binary has
# its configuration (conf/userapi.conf), SQL and assets compiled in, so it is
# the only file copied from the builder. Settings come from the environment:
# see docs/running.md and .env.example.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# --- build: kore, the compiler and the -dev libraries; `make build` --------
FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
COPY packages.txt ./
RUN pkgs=$(awk -v role=build '!/^#/ { for (i = 2; i <= NF; i++) if ($i == role) { print $1; break } }' packages.txt) \
	&& test -n "$pkgs" \
	&& apt-get update -q \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs \
	&& rm -rf /var/lib/apt/lists/*
COPY . .
# The prod flavor of conf/build.conf, with Kore compiled from its Debian
# sources patched by patches/kore (a patch that does not apply stops the
# build), as on a developer's machine (the Makefile builds in a staging
# directory, so the name of this one does not matter).
# npm installs only what the pages serve ("dependencies" of package.json):
# the linters and test tools are devDependencies.
RUN npm_config_omit=dev make build && ./userapi --version

# --- runtime: the libraries and the binary, run as a user without privileges
# (uid 10001, above the system range, so no host user shares it; created
# as a regular user, since useradd --system warns about such a uid)
FROM ${DEBIAN_IMAGE}
COPY packages.txt /tmp/packages.txt
RUN pkgs=$(awk -v role=image '!/^#/ { for (i = 2; i <= NF; i++) if ($i == role) { print $1; break } }' /tmp/packages.txt) \
	&& test -n "$pkgs" \
	&& apt-get update -q \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs \
	&& rm -rf /var/lib/apt/lists/* /tmp/packages.txt \
	&& groupadd --system --gid 10001 userapi \
	&& useradd --uid 10001 --gid userapi --no-log-init --no-create-home \
	    --home-dir /var/lib/userapi --shell /usr/sbin/nologin userapi \
	&& install -d -o userapi -g userapi -m 0750 /var/lib/userapi
COPY --from=build /src/userapi /usr/local/bin/userapi
# Kore writes kore.pid into the working directory.
WORKDIR /var/lib/userapi
USER 10001:10001
ENV BIND=0.0.0.0:8000
EXPOSE 8000
# Kore stops its workers on SIGTERM; compose's stop_grace_period bounds it.
STOPSIGNAL SIGTERM
# With TLS_CERT_FILE the listener is HTTPS (its certificate names the
# public host, not 127.0.0.1: liveness only, so -k).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
	CMD port=${BIND##*:}; scheme=http; [ -z "$TLS_CERT_FILE" ] || scheme=https; \
	curl -fsSk -o /dev/null "$scheme://127.0.0.1:${port:-8000}/healthz" || exit 1
CMD ["userapi", "serve"]
