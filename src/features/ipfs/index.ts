/**
 * The IPFS feature (see src/features/types.ts and README "IPFS"):
 *   startServices  the embedded node (services/ipfs) when IPFS_API_URL is unset:
 *                  urls.ipfsApiUrl, urls.ipfsGatewayUrl, urls.ipfsEmbeddedClusterUrl;
 *                  urls.ipfsClusterUrl only when IPFS_CLUSTER_URL is set
 *   createClients  ctx.clients.ipfs: IpfsService (kubo-rpc-client + cluster client)
 *   tools/agents   the ipfs-* tools and the `archivist` agent
 *   workflows      archive-agent, verify-archive, publish-with-media
 *   readiness      `ipfs`: the node (and cluster) answer `version`
 */
import path from 'node:path';
import { startEmbeddedIpfs } from '../../../services/ipfs/embedded';
import { clientOf, type AppContext } from '../../clients/context';
import { IpfsService } from '../../clients/ipfs/service';
import { registerSecret } from '../../logger';
import { createArchivistAgent } from '../../mastra/agents/archivist';
import { createIpfsTools } from '../../tools/ipfs';
import { createIpfsWorkflows } from '../../workflows/ipfs';
import type { Feature } from '../types';

function tools(ctx: AppContext) {
  return createIpfsTools({ ipfs: () => clientOf(ctx, 'ipfs'), db: ctx.db, filesDir: ctx.config.ipfs.filesDir });
}

export const ipfsFeature: Feature = {
  name: 'ipfs',

  async startServices({ config, logger, urls, onStop }) {
    const c = config.ipfs;
    if (c.clusterBasicAuth) registerSecret(c.clusterBasicAuth.slice(c.clusterBasicAuth.indexOf(':') + 1));
    if (c.clusterUrl) urls.ipfsClusterUrl = c.clusterUrl;
    if (c.apiUrl) {
      urls.ipfsApiUrl = c.apiUrl;
      urls.ipfsGatewayUrl = c.gatewayUrl ?? 'https://ipfs.io/ipfs/';
      return;
    }
    const node = await startEmbeddedIpfs({
      dir: path.join(config.dataDir, 'ipfs'),
      logger,
      host: '127.0.0.1',
      apiPort: c.embeddedPort,
      clusterPort: c.embeddedClusterPort,
      maxAddBytes: c.maxPinBytes,
    });
    onStop('embedded IPFS node', node.stop);
    urls.ipfsApiUrl = node.apiUrl;
    urls.ipfsGatewayUrl = c.gatewayUrl ?? node.gatewayUrl;
    urls.ipfsEmbeddedClusterUrl = node.clusterUrl;
  },

  createClients(ctx) {
    const apiUrl = ctx.urls.ipfsApiUrl;
    if (!apiUrl) throw new Error('IPFS: no API URL (startServices did not run)');
    ctx.clients.ipfs = new IpfsService(ctx.config.ipfs, apiUrl, ctx.urls.ipfsGatewayUrl ?? 'https://ipfs.io/ipfs/', ctx.logger.child({ feature: 'ipfs' }), ctx.urls.ipfsClusterUrl);
  },

  tools,

  agents(ctx, memory) {
    return { archivist: createArchivistAgent(ctx, memory, tools(ctx)) };
  },

  workflows: (ctx) => createIpfsWorkflows(ctx),

  readiness(ctx) {
    return { ipfs: () => clientOf(ctx, 'ipfs').ping() };
  },
};
