#!/usr/bin/env bash
# bench-side-by-side.sh livegate|broadcast-box BINARY VIEWERS [CODEC]
#
# One side of the side-by-side run in docs/BENCHMARKS.md: the server on core 0 with
# GOMAXPROCS=1, livegate-load on core 1 (viewers send transport-wide feedback), all on
# loopback. BINARY is a livegate build (go build ./cmd/livegate) or Broadcast Box built
# from its source with the one-line loopback patch BENCHMARKS.md describes.
# LOAD is the livegate-load binary (default: built into /tmp); SERVER_ARGS are added to
# livegate's flags (e.g. "--max-cpu-percent 0 --shed-cpu-percent 0": no admission by
# CPU, no shedding) and LOAD_ARGS to the load's (e.g. "--step-bitrate 3000000").
# CPU_QUOTA=PERCENT holds the server to that share of its core with a cgroup CPU quota
# (root; cgroup v2 or v1), so that it saturates before the load's own core does.
set -euo pipefail
kind=$1 bin=$2 viewers=$3 codec=${4:-H264}
load=${LOAD:-/tmp/livegate-load}
[ -x "$load" ] || go build -o "$load" ./cmd/livegate-load
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case $kind in
livegate)
	GOMAXPROCS=1 taskset -c 0 "$bin" --data-dir "$work/data" --http-addr 127.0.0.1:18080 \
		--udp-port 17882 --tcp-addr "" --interfaces lo --include-loopback --disable-mdns --remote-networks 127.0.0.0/8 \
		--log-level warn --api-key benchkey-0123456789abcdef ${SERVER_ARGS:-} >"$work/server.log" 2>&1 &
	args=(--url http://127.0.0.1:18080 --api-key benchkey-0123456789abcdef) ;;
broadcast-box)
	(cd "$work" && HTTP_ADDRESS=127.0.0.1:18090 UDP_MUX_PORT=17892 INTERFACE_FILTER=lo INCLUDE_LOOPBACK_CANDIDATE=true \
		DISABLE_FRONTEND=true GOMAXPROCS=1 exec taskset -c 0 "$bin") >"$work/server.log" 2>&1 &
	args=(--peer broadcast-box --url http://127.0.0.1:18090) ;;
*) echo "livegate or broadcast-box" >&2; exit 2 ;;
esac
pid=$!
if [ -n "${CPU_QUOTA:-}" ]; then
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		cg=/sys/fs/cgroup/livegate-bench-$$; mkdir "$cg"
		echo "$((CPU_QUOTA * 1000)) 100000" >"$cg/cpu.max"
	else
		cg=/sys/fs/cgroup/cpu/livegate-bench-$$; mkdir "$cg"
		echo 100000 >"$cg/cpu.cfs_period_us"; echo $((CPU_QUOTA * 1000)) >"$cg/cpu.cfs_quota_us"
	fi
	echo "$pid" >"$cg/cgroup.procs"
	trap 'rm -rf "$work"; rmdir "$cg" 2>/dev/null || true' EXIT
fi
sleep 1.5
taskset -c 1 "$load" "${args[@]}" --codec "$codec" --viewers "$viewers" --duration "${DURATION:-12s}" --ramp 50 --twcc --server-pid "$pid" ${LOAD_ARGS:-} || true
grep VmHWM "/proc/$pid/status" || true
kill "$pid"
wait "$pid" 2>/dev/null || true
[ -z "${cg:-}" ] || { sleep 0.5; rmdir "$cg"; }
