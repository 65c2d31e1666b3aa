#!/bin/bash
# User and system CPU per request of a running proxy, split: PID's utime and stime (and its direct
# children's, for nginx's workers) from /proc around `wrk -t1 -c50 -d5s` (after 1 s of warm-up),
# divided by wrk's request count. Run it against two proxies in turn, several rounds, to compare
# where their CPU goes: system time is the kernel's work for their syscalls, user time their own.
#
#   scripts/user-sys-per-request.sh LABEL PID PORT [SECONDS]
set -euo pipefail
label=$1; pid=$2; port=$3; seconds=${4:-5}
pids="$pid $( (pgrep -P "$pid" || true) | tr '\n' ' ')"
sum() { for p in $pids; do awk '{print $14, $15}' "/proc/$p/stat"; done | awk '{u += $1; s += $2} END {print u, s}'; }
wrk -t1 -c50 -d1s "http://127.0.0.1:$port/" > /dev/null
a=$(sum)
n=$(wrk -t1 -c50 -d"${seconds}s" "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
b=$(sum)
hz=$(getconf CLK_TCK)
echo "$label $n $a $b $hz" | awk '{ k = 1e6 / $7 / $2; printf "%-10s %8d requests  user %6.2f  sys %6.2f  total %6.2f us/request\n", $1, $2, ($5 - $3) * k, ($6 - $4) * k, ($5 - $3 + $6 - $4) * k }'
