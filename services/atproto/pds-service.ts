/**
 * The PDS as the production image starts it: bluesky-social/pds `service/index.js`
 * (the image's `CMD node index.js`) reads the PDS_* environment with `readEnv()`, builds
 * the config and secrets with `envToCfg` / `envToSecrets` from @atproto/pds, creates and
 * starts the PDS (listening on PDS_PORT, every interface) and destroys it on SIGTERM.
 * This does the same with the @atproto/pds installed here, so a test can run the PDS as
 * its own process from the environment docker-compose.yml gives the `pds` service
 * (test/process/topology.test.ts). Upstream's extra `/tls-check` route (for Caddy's
 * on-demand TLS) is left out: no TLS proxy runs here.
 *
 *   PDS_HOSTNAME=localhost PDS_PORT=… PDS_DATA_DIRECTORY=… … node --import tsx services/atproto/pds-service.ts
 */
import { createRequire } from 'node:module';
import { PDS, envToCfg, envToSecrets, httpLogger, readEnv } from '@atproto/pds';

const pkg = createRequire(import.meta.url)('@atproto/pds/package.json') as { version: string };

const env = readEnv();
env.version ||= pkg.version;
const cfg = envToCfg(env);
const secrets = envToSecrets(env);
const pds = await PDS.create(cfg, secrets);
await pds.start();
httpLogger.info('pds has started');
process.on('SIGTERM', async () => {
  httpLogger.info('pds is stopping');
  await pds.destroy();
  httpLogger.info('pds is stopped');
});
