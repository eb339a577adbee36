# ---- build: compile TypeScript to dist/, bundle the server into dist/bundle/ -------------------
FROM node:24-slim AS build
WORKDIR /app

# Dependencies first, so this layer is reused while only the source changes.
COPY package.json package-lock.json ./
# npm ci runs the prepare script (scripts/prepare.mjs); the build bundles with scripts/bundle.mjs.
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies + compiled output, as the unprivileged `node` user -------
FROM node:24-slim AS runtime
WORKDIR /app

ENV NODE_ENV=production \
    PORT=8006 \
    HOST=0.0.0.0 \
    DATA_DIR=/data

COPY package.json package-lock.json ./
# --ignore-scripts: nothing in the production tree needs an install script (native modules such as
# @node-rs/bcrypt ship prebuilt per-platform packages).
# The helpers `npm start` and the CLIs (`npm run db:migrate`, `keys:rotate`, `admin:reset`,
# `db:seed`) run through; with no src/ in the image they run the shipped dist/ without building.
COPY scripts ./scripts
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node scripts/patch-postgres.mjs \
 && npm cache clean --force

# The application files stay owned by root (read-only for the `node` user).
COPY --from=build /app/dist ./dist
# SQL migrations, applied at start from <root>/drizzle.
COPY drizzle ./drizzle

# Writable state (PGlite data directory when DATABASE_URL is unset, and the like). A volume
# mounted here keeps this owner when Docker creates it; a host directory must belong to uid 1000
# (`chown -R 1000:1000 <dir>`), or the service stops saying so.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

USER node
EXPOSE 8006
# glibc gives every thread (libuv's pool, V8's GC helpers) a malloc arena of its own; two are
# plenty for one event loop and kept some 10 MB less resident under load.
ENV MALLOC_ARENA_MAX=2

# The slim image has no curl: ask Node itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8006)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]

# Node runs as PID 1 and receives SIGTERM directly (graceful shutdown is the server's job); use
# `docker run --init` (compose: `init: true`) to also forward signals and reap stray processes.
# Command-line tools in a running container, e.g.:
#   docker compose exec api node dist/scripts/admin-reset.js --email admin@example.com
#   docker compose exec api npm run keys:rotate
CMD ["node", "dist/bundle/main.js"]
