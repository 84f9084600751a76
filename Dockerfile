# syntax=docker/dockerfile:1
#
# switchyard container image.
#
#   docker build -t switchyard .                 # distroless runtime (default)
#   docker build -t switchyard:slim --target slim .   # Debian runtime, see below
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t switchyard .
#
# The build stage runs on the build machine's platform ($BUILDPLATFORM) and
# cross-compiles for the target (GOOS/GOARCH from $TARGETOS/$TARGETARCH):
# no emulation. VERSION is stamped into the binary (switchyard --version,
# switchyard_build_info) and, with REVISION and CREATED, into the OCI
# labels.
#
#   docker run -d --name switchyard \
#     -p 993:993 -p 143:143 -p 127.0.0.1:9443:9443 \
#     -v /srv/switchyard/etc:/etc/switchyard:ro \
#     -v /srv/switchyard/lib:/var/lib/switchyard \
#     -e SWITCHYARD_ADMIN_TOKEN="$(cat admin.token)" \
#     switchyard [flags...]
#
# /var/lib/switchyard (uid 65532 must own it: chown 65532:65532
# /srv/switchyard/lib) holds what switchyard writes, e.g. a mapping file the
# admin API edits; the configuration directory can stay read-only.
#
# The entrypoint is the binary itself: arguments are its flags, and every
# SWITCHYARD_* variable works (switchyard --help lists them). The default
# configuration file is /etc/switchyard/switchyard.toml ($SWITCHYARD_CONFIG);
# run from flags alone with -e SWITCHYARD_CONFIG= .
#
# First start without a configuration: when /etc/switchyard/switchyard.toml
# does not exist, switchyard uses /var/lib/switchyard/switchyard.toml
# ($SWITCHYARD_INIT_DIR), writing it first with "switchyard init" if it is
# missing too: the admin API alone on 0.0.0.0:9443 (publish it on
# loopback: -p 127.0.0.1:9443:9443), its token in
# /var/lib/switchyard/admin.token, a self-signed certificate; edit the file
# (docker exec, or the volume) and restart.
#
# Low ports as a non-root user. The binary carries the file capability
# cap_net_bind_service, set in the build stage. Whether it survives
# COPY --from depends on the builder (BuildKit may drop the
# security.capability attribute; buildah keeps it), so do not rely on it in
# the distroless image. What works everywhere:
#   - Docker (20.10+) and Podman already set net.ipv4.ip_unprivileged_port_start=0
#     inside a container's own network namespace: any user binds 993 there.
#     Elsewhere pass --sysctl net.ipv4.ip_unprivileged_port_start=0
#     (containerd 2 does so for pods; otherwise securityContext.sysctls:
#     it is a "safe" sysctl in Kubernetes).
#   - Or bind high ports (--listen imaps=imap:implicit@[::]:10993) and
#     publish them on the low ones (-p 993:10993).
#   - Or use the slim target: the capability is set in its final stage, so
#     it is in the image. It needs NET_BIND_SERVICE in the container's
#     bounding set (Docker's default; with --cap-drop ALL add
#     --cap-add NET_BIND_SERVICE) and no "no-new-privileges" option, which
#     disables file capabilities.
#
# HEALTHCHECK runs switchyard-healthcheck: GET /healthz on the admin API
# ([admin] bind, found through $SWITCHYARD_CONFIG, or $SWITCHYARD_HEALTHCHECK_ADDR),
# over loopback. Without [admin] there is nothing to ask: run with
# --no-healthcheck.

ARG GO_VERSION=1.26

# ---- build: two static binaries (modernc.org/sqlite is pure Go) ----------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=devel
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X github.com/switchyard-mail/switchyard/internal/version.Version=${VERSION}" \
      -o /out/ ./cmd/switchyard ./cmd/switchyard-healthcheck \
 && setcap cap_net_bind_service=+ep /out/switchyard \
 && getcap /out/switchyard \
 && mkdir -p /out/etc/switchyard /out/var/lib/switchyard

# ---- slim: Debian, a "switchyard" user, the capability set in place -----
FROM debian:12-slim AS slim
ARG VERSION=devel
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="Multi-protocol e-mail proxy (IMAP, POP3, ManageSieve, SMTP, LMTP, HTTP) that routes each account to its backend" \
      org.opencontainers.image.source="https://github.com/switchyard-mail/switchyard" \
      org.opencontainers.image.documentation="https://github.com/switchyard-mail/switchyard/blob/main/config/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
RUN --mount=type=bind,from=build,source=/out,target=/mnt \
    apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
 && install -m 0755 /mnt/switchyard /mnt/switchyard-healthcheck /usr/local/bin/ \
 && setcap cap_net_bind_service=+ep /usr/local/bin/switchyard \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 switchyard \
 && useradd --system --uid 65532 --gid switchyard --no-create-home \
      --home-dir /var/lib/switchyard --shell /usr/sbin/nologin switchyard \
 && install -d -m 0755 /etc/switchyard \
 && install -d -m 0750 -o switchyard -g switchyard /var/lib/switchyard
ENV SWITCHYARD_CONFIG=/etc/switchyard/switchyard.toml \
    SWITCHYARD_INIT_DIR=/var/lib/switchyard \
    SWITCHYARD_INIT_ADMIN_BIND=0.0.0.0:9443 \
    SWITCHYARD_LOG_FORMAT=json
USER switchyard:switchyard
WORKDIR /var/lib/switchyard
# LMTP, SMTP, POP3, IMAP, HTTPS, submissions, submission, IMAPS, POP3S,
# ManageSieve; the admin API.
EXPOSE 24 25 110 143 443 465 587 993 995 4190 9443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/switchyard-healthcheck", "--quiet"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchyard"]

# ---- default: distroless, user nonroot (65532), no shell ------------------
FROM gcr.io/distroless/static-debian12:nonroot AS distroless
ARG VERSION=devel
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="Multi-protocol e-mail proxy (IMAP, POP3, ManageSieve, SMTP, LMTP, HTTP) that routes each account to its backend" \
      org.opencontainers.image.source="https://github.com/switchyard-mail/switchyard" \
      org.opencontainers.image.documentation="https://github.com/switchyard-mail/switchyard/blob/main/config/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/switchyard /out/switchyard-healthcheck /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/var/lib/switchyard /var/lib/switchyard
COPY --from=build /out/etc/switchyard /etc/switchyard
ENV SWITCHYARD_CONFIG=/etc/switchyard/switchyard.toml \
    SWITCHYARD_INIT_DIR=/var/lib/switchyard \
    SWITCHYARD_INIT_ADMIN_BIND=0.0.0.0:9443 \
    SWITCHYARD_LOG_FORMAT=json
USER 65532:65532
WORKDIR /var/lib/switchyard
# LMTP, SMTP, POP3, IMAP, HTTPS, submissions, submission, IMAPS, POP3S,
# ManageSieve; the admin API.
EXPOSE 24 25 110 143 443 465 587 993 995 4190 9443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/switchyard-healthcheck", "--quiet"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchyard"]
