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
USER node
EXPOSE 8787
CMD ["node", "--import", "tsx", "src/main.ts"]
