#!/bin/sh
# A sample conduit for the demo: records each run as one line in a log.
#
# Usage: record-conduit.sh LOG NAME [ARGUMENT...]
#
# Appends to LOG an ISO 8601 timestamp (UTC), NAME, and each ARGUMENT
# shell-quoted, so a person can read back exactly what the agent passed,
# e.g.  2024-05-01T12:00:00Z RoleExpander --username juser
# Arguments are only ever printed, never evaluated.
set -eu

log=$1
name=$2
shift 2

# Prints $1 as the shell would need it: bare when it is only safe
# characters, otherwise in single quotes with each ' written as '\''.
# (Trailing newlines are lost; the demo's patterns allow none.)
quote() {
  case $1 in
    '' | *[!A-Za-z0-9_@%+=:,./-]*)
      printf "'%s'" "$(printf '%s\n' "$1" | sed "s/'/'\\\\''/g")"
      ;;
    *)
      printf '%s' "$1"
      ;;
  esac
}

line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $(quote "$name")"
for argument in "$@"; do
  line="$line $(quote "$argument")"
done
printf '%s\n' "$line" >>"$log"
