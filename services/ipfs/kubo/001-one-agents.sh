#!/bin/sh
# Kubo start-up configuration for docker-compose (mounted into /container-init.d; the
# ipfs/kubo image runs it after `ipfs init`, before the daemon starts).
# - No public bootstrap peers unless IPFS_PUBLIC_BOOTSTRAP=1: the node stays private.
# - The RPC API listens inside the compose network only (never publish port 5001).
# - The gateway serves pinned content read-only on :8080 (published as 8081).
set -e
ipfs config Addresses.API /ip4/0.0.0.0/tcp/5001
ipfs config Addresses.Gateway /ip4/0.0.0.0/tcp/8080
ipfs config --json Gateway.NoFetch true
ipfs config --json Swarm.ConnMgr.HighWater 100
if [ "${IPFS_PUBLIC_BOOTSTRAP:-0}" != "1" ]; then
  ipfs bootstrap rm --all
  ipfs config Routing.Type none
  ipfs config --json Discovery.MDNS.Enabled false
fi
# Kubo's defaults already match the embedded node's import settings (CIDv0, 256 KiB
# chunks, 174 links): nothing to set for CID parity.
