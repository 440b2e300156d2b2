#!/bin/sh
# A FairPlay D function co-process for keyward, implementing the behaviour of
# Apple's FPS Server SDK test D function: every request gets the SDK's fixed
# test DASk. It opens only SPCs made for Apple's SDK test vectors; a production
# co-process is built from the D function source Apple gives FPS licensees and
# speaks the same protocol.
#
# Protocol (keyward `fairplay.dask = "command"`), one request per line:
#   in:  <R2 as 42 hex digits> <ASk as 32 hex digits>\n
#   out: <DASk as 32 hex digits>\n      (or "ERR <reason>\n" to refuse)
# keyward sends one request at a time per process, waits at most
# fairplay.dask_timeout_ms for the answer, and restarts a process that exits,
# hangs or answers anything else.
#
# Usage: keyward serve with
#   [fairplay]
#   dask = "command"
#   dask_command = ["examples/fairplay-dask/sdk-test-dask.sh"]
while IFS=' ' read -r r2 ask; do
    case "$r2" in
    *[!0-9a-fA-F]* | '') echo "ERR R2 is not hex"; continue ;;
    esac
    if [ "${#r2}" -ne 42 ] || [ "${#ask}" -ne 32 ]; then
        echo "ERR R2 must be 42 and ASk 32 hex digits"
        continue
    fi
    echo d87ce7a26081de2e8eb8acef3a6dc179
done
