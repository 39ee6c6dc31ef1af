-- IPFS pins have an owner (src/clients/ipfs/pins.ts): one row per pin a user (the
-- conversation's memory resource, or `agent:<name>` for a workflow's own archives) made
-- through a tool or workflow. list-pins, pin status, read-by-name and unpin see only the
-- caller's rows; the node's pin is taken away only when no row for its content remains.
-- `multihash` (base58btc) is the content's identity across CID versions (v0 and v1 of
-- one DAG are one pin on Kubo): the per-content lock and "does anyone else still pin
-- it" both use it. `name` is '' for an unnamed pin.
create table if not exists ipfs_pins (
  owner_id   text not null,
  cid        text not null,
  name       text not null default '',
  multihash  text not null,
  created_at timestamptz not null default now(),
  primary key (owner_id, cid, name)
);
create index if not exists ipfs_pins_multihash on ipfs_pins (multihash);
create index if not exists ipfs_pins_owner_time on ipfs_pins (owner_id, created_at desc);
create index if not exists ipfs_pins_owner_name on ipfs_pins (owner_id, name);
