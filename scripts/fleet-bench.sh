#!/bin/bash
# Three (or one or two) livegate processes sharing Redis and PostgreSQL on this machine,
# each pinned with taskset; livegate-load on core 1. See docs/BENCHMARKS.md ("A fleet").
# Build first: go build -o /tmp/bin/ ./cmd/livegate ./cmd/livegate-load
# usage: fleetbench.sh <nodes> <viewers> <cpu-of-node-1> <cpu-of-node-2> <cpu-of-node-3> [view-on spec: all|edges|origin]
N=$1; V=$2; SPEC=${6:-all}
psql -q -h 127.0.0.1 -U postgres -d test -c 'drop schema if exists benchfleet cascade; create schema benchfleet' >/dev/null
PREFIX="bench$RANDOM:"
PIDS=()
URLS=()
for i in $(seq 1 $N); do
  eval CPU=\${$((i+2))}
  PORT=$((18100+i)); UDP=$((7900+i))
  rm -rf /tmp/lgf$i; mkdir -p /tmp/lgf$i
  GOMAXPROCS=1 taskset -c $CPU /tmp/bin/livegate --data-dir /tmp/lgf$i --http-addr 127.0.0.1:$PORT --public-url http://127.0.0.1:$PORT \
    --udp-port $UDP --tcp-addr "" --interfaces lo --include-loopback --disable-mdns --remote-networks 127.0.0.0/8 --log-level warn \
    --redis-url redis://127.0.0.1:6379/0 --redis-prefix $PREFIX --node-id node-$i \
    --database-url "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=benchfleet" > /tmp/lgf$i.log 2>&1 &
  PIDS+=($!); URLS+=(http://127.0.0.1:$PORT)
done
for u in "${URLS[@]}"; do for k in $(seq 100); do curl -sf $u/healthz >/dev/null && break; sleep 0.1; done; done
sleep 1
case $SPEC in
  all) VIEW=$(IFS=,; echo "${URLS[*]}");;
  edges) VIEW=$(IFS=,; echo "${URLS[*]:1}");;
  origin) VIEW=${URLS[0]};;
esac
taskset -c 1 /tmp/bin/livegate-load --url ${URLS[0]} --view-on $VIEW --viewers $V --ramp 25 --duration 15s 2>&1 | sed -n '/== livegate-load report/,$p'
for p in "${PIDS[@]}"; do kill -9 $p; done; wait 2>/dev/null
