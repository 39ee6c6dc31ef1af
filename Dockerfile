# The app image. Node 24 (Mastra needs >= 22.13).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production MASTRA_TELEMETRY_DISABLED=1
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=dev && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
COPY services ./services
COPY evals ./evals
# DATA_DIR: the PowerSync signing key, files for ipfs-pin-file. Owned by `node`, so a new
# named volume mounted here (docker-compose.yml: appdata) starts out writable by the app.
RUN mkdir -p /data && chown node:node /data
ENV DATA_DIR=/data
USER node
EXPOSE 8787
CMD ["node", "--import", "tsx", "src/main.ts"]
