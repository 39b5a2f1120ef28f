#!/bin/sh
# The main job: set up, build, and run the kmem demo (a seeded page workload
# on a buddy allocator over a 64 MiB arena; prints buddyinfo, fragmentation
# indexes and a summary). Extra arguments go to kmem (see kmem --help).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/tools/kmem "$@"
