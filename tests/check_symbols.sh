#!/bin/sh
# Fail if a built kmem library exports (or defines globally) any symbol that
# does not start with kmem_. Usage: check_symbols.sh LIB...
#
# check_symbols.sh --dropin MAP SO: the drop-in's shared library exports
# exactly the global names of its version script MAP (decision 35): the C
# allocation API and the kmem_malloc_* extras, every name there either one of
# the malloc API's or kmem_-prefixed; none of the layers' kmem_* functions.
if [ "${1:-}" = --dropin ]; then
	[ $# -eq 3 ] || { echo "usage: $0 --dropin MAP SO" >&2; exit 2; }
	map=$2 so=$3
	api='malloc free calloc realloc reallocarray cfree free_sized free_aligned_sized posix_memalign aligned_alloc memalign
	     valloc pvalloc malloc_usable_size malloc_trim mallinfo mallinfo2 malloc_stats malloc_info'
	want=$(sed '/\/\*/,/\*\//d' "$map" | sed -n '/global:/,/local:/p' | tr ';' '\n' |
		sed -e 's/global://' -e 's/local://' -e 's/[[:space:]]//g' | grep -v '^$' | sort)
	have=$(nm -D --defined-only "$so" | awk 'NF == 3 {print $3}' | sed 's/@.*//' | sort -u)
	status=0
	for s in $want; do
		case " $(echo $api) " in *" $s "*) continue ;; esac
		case $s in kmem_malloc_*) continue ;; esac
		echo "$map: $s is neither the malloc API nor kmem_malloc_*" >&2
		status=1
	done
	if [ "$want" != "$have" ]; then
		echo "$so exports other symbols than $map lists:" >&2
		printf '%s\n' "$want" > "${TMPDIR:-/tmp}/check_symbols.$$.want"
		printf '%s\n' "$have" | diff "${TMPDIR:-/tmp}/check_symbols.$$.want" - >&2
		rm -f "${TMPDIR:-/tmp}/check_symbols.$$.want"
		status=1
	fi
	[ $status = 0 ] && echo "$so: $(printf '%s\n' "$have" | wc -l) symbols, those of $map"
	exit $status
fi
status=0
for lib in "$@"; do
	case "$lib" in
	*.so*) syms=$(nm -D --defined-only "$lib" | awk 'NF == 3 {print $3}') ;;
	*) syms=$(nm -g --defined-only "$lib" | awk 'NF == 3 {print $3}') ;;
	esac
	if [ -z "$syms" ]; then
		echo "no symbols found in $lib" >&2
		status=1
		continue
	fi
	# i386 PIC: the compiler's hidden get_pc_thunk helpers are global in
	# the archive's objects (never exported by the shared library); ASan
	# adds an ODR indicator __odr_asan.X beside each exported variable X
	# (kmem_rp_fifo...), which is X's, checked as X
	bad=$(printf '%s\n' "$syms" | grep -v -e '^kmem_' -e '^__x86\.get_pc_thunk\.' \
		-e '^__odr_asan\.kmem_' || true)
	if [ -n "$bad" ]; then
		echo "$lib exports symbols without the kmem_ prefix:" >&2
		printf '  %s\n' $bad >&2
		status=1
	else
		echo "$lib: $(printf '%s\n' "$syms" | wc -l) symbols, all kmem_*"
	fi
done
exit $status
