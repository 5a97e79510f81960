# The ironplane image: one image for every provider (its Deployments pick the
# role with `manager --role ...` or `extension`). Build from the repository root:
#
#   docker build -t ghcr.io/ironplane/ironplane:v0.1.0 .
#
# Stage 1 compiles TypeScript with the dev dependencies; stage 2 holds only the
# compiled code, the production dependencies, package.json (the version the
# CLI reports) and templates/bootstrap (the Kairos cloud-config templates the
# kairos role renders at run time).
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY providers ./providers
# tsconfig.build.json also compiles the test harness for `npm run build` in a
# checkout; the image needs providers/ only (nothing there imports test/).
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/providers ./dist/providers
COPY templates/bootstrap ./templates/bootstrap
# The node user of the base image, by number so that Kubernetes can check
# runAsNonRoot without reading /etc/passwd.
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/providers/cli/main.js"]
CMD ["--help"]
