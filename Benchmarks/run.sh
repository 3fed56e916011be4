#!/usr/bin/env bash
# Benchmarks/run.sh - chunkvol against aws-cli, python-swiftclient and rclone, side by side on the
# same servers and the same bytes, then the microbenchmarks. One command on a fresh Debian 12
# machine with Swift 6.3 (as root):
#
#   bash Benchmarks/run.sh
#
# It installs what it needs (rclone, python3-swiftclient, awscli), starts or reuses the servers
# (Tests/servers/start-all.sh), builds chunkctl in release mode, makes 1 GiB of random data once,
# runs every measurement BENCH_ROUNDS times with the order alternating, and prints medians and ratios
# (Benchmarks/bench.py), then the ordo-one/benchmark microbenchmarks beside `openssl speed`.
# Knobs: BENCH_ROUNDS (3), BENCH_SIZE_MIB (1024), BENCH_PARTS (upload,restore,local),
# BENCH_APIS (saio-s3,saio-swift,rgw-s3), BENCH_MICRO (1: run the microbenchmarks; 0: skip),
# BENCH_DIR (/tmp/chunkvol-bench). The load of the machine is printed before and after.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/opt/swift/usr/bin
# /usr/bin/swift is python-swiftclient's CLI: the toolchain is called as swift-build, or by path.
SWIFT_DRIVER=$(dirname "$(command -v swift-build)")/swift

need=()
command -v rclone >/dev/null || need+=(rclone)
head -c 100 /usr/bin/swift 2>/dev/null | grep -q python || need+=(python3-swiftclient)
command -v cmp >/dev/null || need+=(diffutils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v aws >/dev/null || python3 -m pip install -q awscli

bash Tests/servers/start-all.sh >/tmp/chunkvol-bench-servers.log 2>&1 || { cat /tmp/chunkvol-bench-servers.log; exit 1; }
set -a; . Tests/servers/servers.env; set +a

echo "== build: chunkctl, release"
swift-build -c release --product chunkctl 2>&1 | tail -1
export CHUNKCTL=$ROOT/.build/release/chunkctl

echo "== machine"
echo "cores: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); memory: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -h "${BENCH_DIR:-/tmp/chunkvol-bench}" 2>/dev/null | tail -1 || df -h /tmp | tail -1)"
echo "client and servers (Swift all-in-one, Ceph radosgw) share these cores"
echo "tools: $(aws --version 2>&1 | cut -d' ' -f1); $(rclone version 2>/dev/null | head -1); python3-swiftclient $(dpkg-query -W -f '${Version}' python3-swiftclient 2>/dev/null)"
echo "load before: $(uptime)"

echo "== end to end (Benchmarks/bench.py)"
python3 Benchmarks/bench.py
echo "load after: $(uptime)"

if [ "${BENCH_MICRO:-1}" = 1 ]; then
  echo "== openssl speed -evp sha256 / md5 (this machine, one core)"
  openssl speed -seconds 2 -evp sha256 2>/dev/null | tail -2
  openssl speed -seconds 2 -evp md5 2>/dev/null | tail -1
  echo "== microbenchmarks (ordo-one/benchmark; throughput = MiB/s for the 1 MiB hashing benchmarks)"
  (cd Benchmarks && "$SWIFT_DRIVER" package --disable-sandbox benchmark --no-progress --format text 2>&1 \
     | grep -v "^\[\|^Build\|^Compiling\|^Linking\|^Write\|^Planning\|^Building") || echo "microbenchmarks failed"
  echo "load at the end: $(uptime)"
fi
