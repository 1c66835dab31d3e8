#!/bin/sh
# A conduit for the tests: records the argv it was given, one file per run.
# Usage: record-run.sh DIRECTORY [ARGUMENT ...]
# The file name is the start time in nanoseconds and the pid, so runs sort
# in the order they started; the file holds each argument followed by NUL.
dir=$1
shift
file="$dir/$(date +%s%N).$$"
printf '%s\0' "$@" > "$file.tmp"
mv "$file.tmp" "$file"
