#!/bin/sh
# The no-op conduit of the throughput and backlog benchmarks. The agent runs
# it as `noop.sh DIRECTORY --seq N`; it does nothing, except that the run of
# event 0 writes its start time (`date +%s%N`) to DIRECTORY/0, which is how
# the benchmark learns when the first conduit started.
[ "$3" = 0 ] || exit 0
date +%s%N >"$1/0.tmp" && mv "$1/0.tmp" "$1/0"
