# syntax=docker/dockerfile:1
#
# ingestd worker image. Build: docker build -t ingestd .   Run: docker run --rm ingestd check-config
# Node 24 runs the TypeScript sources directly (type stripping): there is no compile step,
# so the image is the sources, the migrations and the production dependencies.

# Official Node image, Debian 12 slim (glibc: the MALLOC_* tuning of bin/ingestd.js applies).
# Pin a digest (node:24-bookworm-slim@sha256:…) for reproducible production builds.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- dependencies ------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, exactly as locked:
# - --omit=dev: no TypeScript, no test tools, and no `node` package (the devDependency that
#   gives checkouts with an older system Node a Node 24: the base image already is Node 24).
# - --omit=optional: leaves out embedded-postgres's PostgreSQL binaries (~60 MB), which only
#   `ingestd demo` uses; the demo binds 127.0.0.1 and is of no use in a container, and it says
#   so and exits 1 when started here. The only other optional package, pg-cloudflare, is for
#   Cloudflare Workers.
# - --ignore-scripts: with those left out no production dependency has an install script;
#   nothing downloaded runs at build time.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# --- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE}
WORKDIR /app
# Owned by root and read-only to the worker: it writes nothing to disk (logs go to stdout),
# so the container can also run with a read-only root filesystem.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# 0755 whatever the build host's checkout did with the executable bit: the entrypoint is the script.
COPY --chmod=0755 bin/ ./bin/
COPY migrations/ ./migrations/
COPY src/ ./src/

# The image's `node` user; numeric, so Kubernetes' runAsNonRoot can check it without runAsUser.
USER 1000:1000

# Fails the build if the CLI cannot load (Node too old, a source or dependency missing).
RUN ["/app/bin/ingestd.js", "--version"]

EXPOSE 8080

# Liveness: the HTTP server answers. curl is not in the slim image; Node is.
# bin/healthcheck.js follows PORT / OPS_PORT / HEALTH_TOKEN like the worker does.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/bin/healthcheck.js", "/health"]

# Through bin/ingestd.js, not `node src/cli/main.ts`: its first line sets the heap limits and
# malloc tuning the worker's memory figures depend on (docs/operations.md#memory). Node runs
# as PID 1 and handles SIGTERM itself (finishes the batch, drains the outbox, exits 0).
ENTRYPOINT ["/app/bin/ingestd.js"]
CMD ["run"]
