#!/bin/sh
# check_preload.sh - real programs under LD_PRELOAD=libkmem-malloc.so give the
# same output as without it.
#
# Usage: check_preload.sh SO SRCDIR [PROGRAM [THREADS_EXE]]
#   SO       libkmem-malloc.so
#   SRCDIR   tests/dropin (workload.py, workload.sql, compute.c, ...)
#   PROGRAM  python | sqlite3 | threads | gcc | git | all (default: all)
#   THREADS_EXE  the dropin-threads C++ program (for PROGRAM threads)
#
# Each program runs once plainly and once with the preload (in fresh
# directories, bounded by a timeout); their stdout and exit status must be
# the same. The preloaded run has KMEM_STATS=slabinfo, and its stderr must
# show kmem's statistics: proof that kmem's malloc served it. A program that
# is not installed is skipped (exit 77 when nothing ran).
# Internal: check_preload.sh --scenario NAME WORKDIR SRCDIR [THREADS_EXE]
set -u

# ---- the scenarios (run with the working directory WORKDIR) -------------------------

scenario_python() {
	PYTHONMALLOC=malloc python3 "$src/workload.py"
}

scenario_sqlite3() {
	sqlite3 "$work/db.sqlite" < "$src/workload.sql"
}

scenario_threads() {
	"$threads_exe"
}

scenario_gcc() {
	# cc1 is a heavy malloc user; gcc is deterministic, so the objects match
	gcc -O2 -std=gnu11 -c -o conf.o "$src/test_conformance.c" || return 1
	gcc -O2 -o compute "$src/compute.c" || return 1
	echo "objects: $(sha256sum conf.o | cut -c1-16) $(objdump -d conf.o | grep -c '^ ')" \
		"instruction lines"
	./compute
}

scenario_git() {
	export HOME="$work" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	export GIT_AUTHOR_NAME=kmem GIT_AUTHOR_EMAIL=kmem@example.org
	export GIT_COMMITTER_NAME=kmem GIT_COMMITTER_EMAIL=kmem@example.org
	export LC_ALL=C TZ=UTC GIT_PAGER=cat
	git init -q -b main repo && cd repo || return 1
	git config pack.threads 1 && git config gc.auto 0 || return 1
	c=1
	while [ $c -le 12 ]; do
		export GIT_AUTHOR_DATE="@$((1717761600 + c * 3600)) +0000"
		export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
		mkdir -p src doc
		awk -v c=$c 'BEGIN {
			for (f = 1; f <= 40; f++) {
				fn = sprintf("src/f%02d.txt", f)
				for (i = 1; i <= 150; i++)
					print "file", f, "line", i, "value", ((i + c) % 10 == 0 ? (f * i * c) % 9973 : f * i) > fn
				close(fn)
			}
			fn = sprintf("doc/notes-%02d.md", c)
			for (i = 1; i <= 50; i++)
				print "# note", c, i, "lorem ipsum dolor sit amet" > fn
		}'
		git add -A && git commit -q -m "commit $c" -m "changes lines with (i + $c) % 10 == 0" || return 1
		if [ $c -eq 6 ]; then
			git branch feature
		fi
		c=$((c + 1))
	done
	git checkout -q feature || return 1
	export GIT_AUTHOR_DATE="@1717900000 +0000" GIT_COMMITTER_DATE="@1717900000 +0000"
	for i in 1 2 3 4 5; do echo "feature work $i"; done > feature.txt
	git add feature.txt && git commit -q -m "feature" || return 1
	git checkout -q main && git merge -q --no-ff -m "merge feature" feature || return 1
	echo "== log"
	git log --graph --format='%h %an %ad %s' --date=iso-strict
	echo "== log --stat"
	git log --stat --format='%H' | sha256sum | cut -c1-16
	echo "== diff"
	git diff --stat HEAD~8 HEAD
	git diff HEAD~8 HEAD | sha256sum | cut -c1-16
	git diff --word-diff HEAD~3 HEAD -- src/f07.txt | tail -n 5
	echo "== blame, grep"
	git blame -s src/f13.txt | sha256sum | cut -c1-16
	git grep -c 'value 9' | tail -n 3
	echo "== gc"
	git gc -q || return 1
	git count-objects -v | grep -E '^(count|in-pack|packs|prune-packable|garbage):'
	git fsck --full --no-progress || return 1
	git archive --format=tar HEAD | sha256sum | cut -c1-16
	git rev-list --all --objects | sha256sum | cut -c1-16
}

# ---- the runner -----------------------------------------------------------------------

if [ "${1:-}" = --scenario ]; then
	name=$2 work=$3 src=$4 threads_exe=${5:-}
	cd "$work" || exit 1
	"scenario_$name"
	exit $?
fi

if [ $# -lt 2 ]; then
	echo "usage: $0 LIBKMEM_MALLOC_SO SRCDIR [python|sqlite3|threads|gcc|git|all [THREADS_EXE]]" >&2
	exit 2
fi
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
which=${3:-all}
threads_exe=${4:-}
[ -n "$threads_exe" ] && threads_exe=$(cd "$(dirname "$threads_exe")" && pwd)/$(basename "$threads_exe")
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
limit=${KMEM_PRELOAD_TIMEOUT:-45} # seconds per run

if [ -n "${KMEM_TEST_UNDER_VALGRIND:-}" ]; then
	echo "skipped: not under Valgrind (it replaces malloc)"
	exit 77
fi
if [ ! -f "$so" ]; then
	echo "FAIL: $so does not exist" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 ran=0

# the preload must actually load: another process's maps show the library
if ! LD_PRELOAD="$so" cat /proc/self/maps > "$tmp/maps" 2> "$tmp/maps.err" ||
	! grep -q "$(basename "$so")" "$tmp/maps"; then
	echo "FAIL: LD_PRELOAD=$so does not load into a process:" >&2
	cat "$tmp/maps.err" >&2
	exit 1
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# needs PROGRAM...: 0 if every program is installed
needs() {
	for p in "$@"; do
		command -v "$p" > /dev/null 2>&1 || { echo "$p not installed"; return 1; }
	done
}

check() { # NAME: plain run, preloaded run, compare
	name=$1
	mkdir "$tmp/$name.plain" "$tmp/$name.kmem"
	t0=$(now_ms)
	timeout -k 5 "$limit" sh "$self" --scenario "$name" "$tmp/$name.plain" "$src" "$threads_exe" \
		> "$tmp/$name.plain.out" 2> "$tmp/$name.plain.err"
	rc_plain=$?
	t1=$(now_ms)
	timeout -k 5 "$limit" env LD_PRELOAD="$so" KMEM_STATS=slabinfo \
		sh "$self" --scenario "$name" "$tmp/$name.kmem" "$src" "$threads_exe" \
		> "$tmp/$name.kmem.out" 2> "$tmp/$name.kmem.err"
	rc_kmem=$?
	t2=$(now_ms)
	ran=$((ran + 1))
	why=""
	if [ $rc_plain -ne 0 ]; then
		echo "FAIL $name: the plain run (no preload) failed with $rc_plain: a test problem, stderr:" >&2
		tail -n 20 "$tmp/$name.plain.err" >&2
		failed=$((failed + 1))
		return
	fi
	if [ $rc_kmem -eq 124 ] || [ $rc_kmem -eq 137 ]; then
		why="timed out after $limit s (exit $rc_kmem): a hang or a livelock?"
	elif [ $rc_kmem -ne $rc_plain ]; then
		why="exit status $rc_kmem with the preload, $rc_plain without"
		[ $rc_kmem -gt 128 ] && why="$why (signal $((rc_kmem - 128)))"
	elif ! cmp -s "$tmp/$name.plain.out" "$tmp/$name.kmem.out"; then
		why="different output"
	elif ! grep -q slabinfo "$tmp/$name.kmem.err"; then
		why="no kmem statistics (KMEM_STATS=slabinfo) on stderr: was kmem's malloc used?"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name: $why" >&2
		diff -u "$tmp/$name.plain.out" "$tmp/$name.kmem.out" | head -n 40 >&2
		echo "--- stderr with the preload (without kmem statistics, last 30 lines):" >&2
		grep -v -E '^(slabinfo|#|kmalloc-|kmem|[a-z_-]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ : tunables)' \
			"$tmp/$name.kmem.err" | tail -n 30 >&2
		failed=$((failed + 1))
		return
	fi
	printf 'ok   %-8s %4d lines of output identical; %5d ms plain, %5d ms with kmem\n' \
		"$name" "$(wc -l < "$tmp/$name.kmem.out")" $((t1 - t0)) $((t2 - t1))
}

skipped=0
run() { # NAME PROGRAM...
	name=$1
	shift
	if [ "$which" != all ] && [ "$which" != "$name" ]; then
		return
	fi
	if ! msg=$(needs "$@"); then
		echo "skip $name: $msg"
		skipped=$((skipped + 1))
		return
	fi
	check "$name"
}

run python python3
run sqlite3 sqlite3
if [ -n "$threads_exe" ] && [ -x "$threads_exe" ]; then
	run threads
elif [ "$which" = threads ] || [ "$which" = all ]; then
	echo "skip threads: no C++ compiler, dropin-threads not built"
	skipped=$((skipped + 1))
fi
run gcc gcc objdump sha256sum
run git git awk sha256sum

if [ $failed -ne 0 ]; then
	echo "$failed of $ran programs differ under LD_PRELOAD=$so" >&2
	exit 1
fi
if [ $ran -eq 0 ]; then
	[ $skipped -ne 0 ] && exit 77
	echo "no such program: $which" >&2
	exit 2
fi
exit 0
