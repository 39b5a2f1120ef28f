# tests/lib.sh - what the tests/check_*.sh scripts share; each sources it
# after `set -eu` with `. "$(dirname "$0")/lib.sh"`:
#   tmp        a scratch directory of the script's own, removed on exit
#   fail MSG   "NAME: FAIL: MSG" on stderr (NAME: the script's, without .sh), exit 1
#   has FILE LINE   FILE holds LINE exactly, or fail (showing FILE)
name=$(basename "$0" .sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "$name: FAIL: $*" >&2
	exit 1
}

has() {
	grep -qxF -- "$2" "$1" || {
		echo "--- $1:" >&2
		cat "$1" >&2
		fail "no line '$2' in $1"
	}
}
