#!/usr/bin/env bash
# cpu-share.sh MEMORY_MB COMMAND [ARGS...]: runs COMMAND with the CPU share Lambda gives a
# function of MEMORY_MB (one full vCPU at 1,769 MB, proportionally less below: 128 MB gets 7.2%),
# enforced by a CFS quota on a 20 ms period (cgroup v1 `cpu` or v2 `cpu.max`). The bench's
# `memory` step wraps each cold start in it (`lambda-bench run --wrap`). Needs a writable cgroup
# hierarchy (root); says so and fails otherwise.
set -euo pipefail
mb="$1"; shift
period=20000
quota=$(( period * mb / 1769 ))
[ "$quota" -ge 1000 ] || quota=1000
if [ -w /sys/fs/cgroup/cpu ]; then                       # cgroup v1
  dir=/sys/fs/cgroup/cpu/hub-bench-$mb
  mkdir -p "$dir"
  echo "$period" >"$dir/cpu.cfs_period_us"
  if [ "$mb" -ge 1769 ]; then echo -1 >"$dir/cpu.cfs_quota_us"; else echo "$quota" >"$dir/cpu.cfs_quota_us"; fi
  echo $$ >"$dir/tasks"
elif [ -w /sys/fs/cgroup/cgroup.subtree_control ]; then  # cgroup v2
  dir=/sys/fs/cgroup/hub-bench-$mb
  mkdir -p "$dir"
  if [ "$mb" -ge 1769 ]; then echo "max $period" >"$dir/cpu.max"; else echo "$quota $period" >"$dir/cpu.max"; fi
  echo $$ >"$dir/cgroup.procs"
else
  echo "cpu-share.sh: no writable cgroup cpu controller here (run as root on Linux)" >&2
  exit 1
fi
exec "$@"
