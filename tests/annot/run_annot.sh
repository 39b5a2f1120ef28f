#!/bin/sh
# run_annot.sh - run one annot_prog scenario under Valgrind memcheck, or
# natively in an AddressSanitizer build, and check that the tool reported
# exactly what the scenario did (kmem_annot.h: kmem-managed memory is
# visible to both).
#
#   run_annot.sh memcheck VALGRIND PROG SCENARIO
#   run_annot.sh asan PROG SCENARIO
#
# Exit status: 0 pass, 1 fail (the report is printed), 77 skip (the build
# does not annotate for that tool).
set -u

# Under `meson test --setup=valgrind` the setup's memcheck runs this shell
# (its children run natively: --trace-children=no). The shell is not under
# test, and some shells leak a few bytes by design: leave memcheck at once.
if [ -n "${KMEM_TEST_UNDER_VALGRIND:-}" ] && [ -z "${KMEM_ANNOT_DRIVER:-}" ]; then
	KMEM_ANNOT_DRIVER=1 exec /bin/sh "$0" "$@"
fi

mode=$1
shift
if [ "$mode" = memcheck ]; then
	valgrind=$1
	shift
fi
prog=$1
scen=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmem-annot.XXXXXX") || exit 1
log=$tmp/report
out=$tmp/out
blocks=$tmp/blocks
: >"$log"
: >"$out"

finish() {
	rm -rf "$tmp"
	exit "$1"
}

fail() {
	echo "FAIL ($scen): $*"
	echo "---- program output ----"
	cat "$out"
	echo "---- tool report ----"
	cat "$log"
	finish 1
}

probe=$("$prog" probe) || fail "probe failed"

# One line per memcheck error or leak record:
#   kind <TAB> address description <TAB> " f1 f2 ... " (the stack of the access
#   or of the lost block's allocation) <TAB> " g1 g2 ... " (the stacks after
#   the address line: where the block was freed and allocated)
summarise() {
	awk '
	function flush() {
		if (kind != "")
			printf "%s\t%s\t %s\t %s\n", kind, addr, first, rest
		kind = ""; addr = ""; first = ""; rest = ""
	}
	{ sub(/^==[0-9]+== ?/, "") }
	/^$/ { flush(); next }
	/^ +(at|by) 0x[0-9A-Fa-f]+: / {
		f = $0
		sub(/^ +(at|by) 0x[0-9A-Fa-f]+: /, "", f)
		sub(/ .*/, "", f)
		if (addr == "") first = first f " "; else rest = rest f " "
		next
	}
	/^ +Address / || /^ +Uninitialised value was created/ {
		a = $0; sub(/^ +/, "", a); addr = a; next
	}
	/^[^ ]/ { if (kind == "") kind = $0; next }
	END { flush() }
	' "$log" >"$blocks"
}

# expect_error KIND_ERE FUNCTION [ADDRESS_ERE]: an error of that kind whose
# access stack has FUNCTION (and whose address description matches).
expect_error() {
	awk -F '\t' -v k="$1" -v f=" $2 " -v a="${3:-}" '
	$1 ~ k && index($3, f) && (a == "" || $2 ~ a) { found = 1 }
	END { exit !found }' "$blocks" || fail "no \"$1\" error in $2${3:+ with address \"$3\"}"
}

# expect_count N: the ERROR SUMMARY counts N errors.
expect_count() {
	grep -q "ERROR SUMMARY: $1 errors" "$log" || fail "expected $1 errors"
}

if [ "$mode" = memcheck ]; then
	case $probe in
	*valgrind=1*) ;;
	*) echo "skip: the libraries are built without Valgrind annotations"; finish 77 ;;
	esac
	"$valgrind" --tool=memcheck --log-file="$log" --num-callers=30 \
		--leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --track-origins=yes \
		--error-exitcode=99 "$prog" "$scen" >"$out" 2>&1
	rc=$?
	summarise
	grep -q "^$scen: done" "$out" || fail "the program did not run to its end (status $rc)"
	if grep -q -e "overlaps with block" -e "impossible happened" -e "Assertion .* failed" "$log"; then
		fail "memcheck aborted (nested blocks need the meta-pool)"
	fi
	# memcheck checks a pool at each CHANGE and prints what it finds, but
	# counts no error for it: a chunk annotated over another one (a split
	# that made its pieces chunks before shrinking the block's own)
	if grep -q -e "Bad mempool" -e "Mempool chunk .* overlaps with its successor" \
		-e "Mempool chunk .* is out of order" "$log"; then
		fail "memcheck found overlapping pool chunks"
	fi
	case $scen in
	uaf-cache)
		expect_error '^Invalid read of size 1' uaf_cache_object "inside a block of size 64 free'd"
		# the object's slab went back to the buddy: free frames
		expect_error '^Invalid read of size 1' uaf_released_slab "free'd"
		expect_count 2 ;;
	uaf-kmalloc)
		# kmalloc-128 class: the block is the class size
		expect_error '^Invalid write of size 1' uaf_kmalloc_block "inside a block of size 128 free'd"
		expect_count 1 ;;
	uaf-page)
		# a frame-service page sits in the service's cache: still a buddy
		# chunk (memcheck does not describe live meta-pool chunks), but no
		# one's to touch; a buddy page is freed outright
		expect_error '^Invalid read of size 1' uaf_pa_page
		expect_error '^Invalid read of size 1' uaf_buddy_page "inside a block of size 8,192 free'd"
		expect_count 2 ;;
	uninit)
		expect_error '^Conditional jump or move depends on uninitialised value' uninit_kmalloc \
			'created by a (heap|client request)'
		expect_error '^Conditional jump or move depends on uninitialised value' uninit_cache
		expect_error '^Conditional jump or move depends on uninitialised value' uninit_page
		expect_count 3 ;;
	redzone)
		expect_error '^Invalid write of size 1' overflow_redzone "0 bytes after a block of size 40 alloc'd"
		expect_count 1 ;;
	leak)
		awk -F '\t' '$1 ~ /are definitely lost in loss record/ && index($3, " leak_kmalloc_object ") \
			{ found = 1 } END { exit !found }' "$blocks" ||
			fail "no definitely lost record allocated in leak_kmalloc_object"
		grep -q "definitely lost: 128 bytes in 1 blocks" "$log" ||
			fail "the leak summary does not show the one lost object"
		grep -q "indirectly lost: 0 bytes" "$log" || fail "indirect leaks"
		[ "$rc" = 99 ] || fail "a definite leak must make memcheck fail (status $rc)" ;;
	zeroed | clean)
		[ "$rc" = 0 ] || fail "memcheck found errors (status $rc)"
		expect_count 0 ;;
	*)
		fail "unknown scenario" ;;
	esac
	echo "ok: $scen under memcheck"
	finish 0
fi

if [ "$mode" = asan ]; then
	case $probe in
	*asan=1*) ;;
	*) echo "skip: not an AddressSanitizer build"; finish 77 ;;
	esac
	opts=${ASAN_OPTIONS:-}
	case $scen in
	uaf-* | redzone) opts=$opts${opts:+:}detect_leaks=0 ;; # stopped half way: no leak check
	esac
	ASAN_OPTIONS=$opts "$prog" "$scen" >"$out" 2>&1
	rc=$?
	cp "$out" "$log"
	case $scen in
	uaf-cache | redzone)
		[ "$rc" != 0 ] || fail "the program was not stopped"
		grep -q "ERROR: AddressSanitizer: use-after-poison" "$out" ||
			fail "no use-after-poison report"
		case $scen in
		uaf-cache) access="READ of size 1"; fn=uaf_cache_object ;;
		*) access="WRITE of size 1"; fn=overflow_redzone ;;
		esac
		grep -q "$access" "$out" || fail "no \"$access\""
		# function names need a symbolizer; check them when there is one
		if grep -q " in main " "$out"; then
			grep -q " in $fn " "$out" || fail "the report does not name $fn"
		fi ;;
	clean | zeroed)
		[ "$rc" = 0 ] || fail "status $rc"
		grep -q "^$scen: done" "$out" || fail "the program did not run to its end"
		! grep -q "AddressSanitizer" "$out" || fail "AddressSanitizer reported an error" ;;
	*)
		fail "unknown scenario" ;;
	esac
	echo "ok: $scen under AddressSanitizer"
	finish 0
fi

echo "usage: run_annot.sh memcheck VALGRIND PROG SCENARIO | asan PROG SCENARIO"
finish 1
