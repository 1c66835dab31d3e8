#!/bin/sh
# The benchmark's conduit: writes the time it started, in nanoseconds since
# the epoch, to DIRECTORY/NAME, and nothing else. The agent runs it as
# `start-time.sh DIRECTORY --seq NAME`; bench/spawn.ts runs it the same way.
# The .tmp file and mv make the time appear whole, never half written.
date +%s%N >"$1/$3.tmp" && mv "$1/$3.tmp" "$1/$3"
