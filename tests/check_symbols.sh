#!/bin/sh
# Fail if a built kmem library exports (or defines globally) any symbol that
# does not start with kmem_. Usage: check_symbols.sh LIB...
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
