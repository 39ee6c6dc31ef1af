#!/bin/sh
# Kubo start-up configuration for docker-compose (mounted into /container-init.d; the
# ipfs/kubo image runs it at every start, after `ipfs init` on the first one and before
# the daemon: kubo bin/container_daemon:19-53). Each start sets the mode IPFS_PUBLIC_BOOTSTRAP
# asks for, so changing it after the first start takes effect at the next one.
# - IPFS_PUBLIC_BOOTSTRAP=0 (default): private. No bootstrap peers, no public routing, no
#   mDNS, and no `server` profile filters (peers of a private-network cluster have private
#   addresses; `local-discovery` removes what `server` adds: kubo config/profile.go).
# - IPFS_PUBLIC_BOOTSTRAP=1: joins the public network. The default bootstrap peers
#   (`ipfs bootstrap add default`: core/commands/bootstrap.go), Routing.Type auto (the
#   default: docs/config.md "Routing.Type"), and the `server` profile (no announcing or
#   dialling of private addresses, as for a host with a public address).
# - The RPC API listens inside the compose network only (never publish port 5001).
# - The gateway serves pinned content read-only on :8080 (published as 8081).
set -e
ipfs config Addresses.API /ip4/0.0.0.0/tcp/5001
ipfs config Addresses.Gateway /ip4/0.0.0.0/tcp/8080
ipfs config --json Gateway.NoFetch true
ipfs config --json Swarm.ConnMgr.HighWater 100
if [ "${IPFS_PUBLIC_BOOTSTRAP:-0}" = "1" ]; then
  ipfs bootstrap add default
  ipfs config Routing.Type auto
  ipfs config profile apply server
else
  ipfs bootstrap rm --all
  ipfs config Routing.Type none
  ipfs config profile apply local-discovery
  ipfs config --json Discovery.MDNS.Enabled false
fi
# Kubo's defaults already match the embedded node's import settings (CIDv0, 256 KiB
# chunks, 174 links): nothing to set for CID parity.
