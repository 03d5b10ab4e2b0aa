#!/usr/bin/env bash
# The trading floor across three hosts (network namespaces a, b, c, plus one
# for etcd) on this machine, with one command; host a crashes after 15 s and
# its agents come back on b and c. Ctrl-C tears everything down.
#
# Needs root (ip netns), etcd (Debian etcd-server), protoc and the protobuf
# well-known types (Debian protobuf-compiler, libprotobuf-dev).
# From anywhere: examples/cluster/run.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
if [[ $(id -u) -ne 0 ]]; then
    echo "examples/cluster/run.sh: needs root (it creates network namespaces)" >&2
    exit 1
fi
command -v etcd >/dev/null || { echo "examples/cluster/run.sh: etcd not found (Debian: etcd-server)" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-target}"
# One build, so that the three share one set of features (separate builds would
# rebuild the supervisor with and without `cluster` every time).
cargo build --release -p axon -p axon-example-trading --features axon/cluster \
    --bin axon --bin trading-floor --example cluster
# exec: Ctrl-C reaches the example itself, which tears the cluster down.
exec "$target/release/examples/cluster" \
    "$target/release/axon" "$target/release/trading-floor" examples/cluster/floor.toml
