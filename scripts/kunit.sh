# shellcheck shell=bash
# KTAP results -> check results.  Needs result() from check.sh.
#
# run_kunit TREE KUNITCONFIG TAG   the tree's kunit.py on arm64 (QEMU), with
#                                  ccache; one result per test case
# parse_ktap TREE TAG KTAPFILE     any KTAP document (the QEMU scenarios),
#                                  parsed by the tree's own KTAP parser
#                                  (kunit.py parse); one result per case

# json_results TAG JSON: one result line per leaf test case of a kunit.py
# JSON report ("TAG: suite.case"); skipped cases are not counted.
json_results() {
	local tag=$1 json=$2 line
	if [ ! -s "$json" ]; then
		result FAIL "$tag: no results"
		return
	fi
	while read -r line; do
		result "${line%% *}" "$tag: ${line#* }"
	done < <(python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
out = []
def walk(g, path):
    for s in g.get("sub_groups", []):
        walk(s, path + [s["name"]])
    for c in g.get("test_cases", []):
        st = c.get("status", "FAIL")
        if st == "SKIP":
            continue
        out.append(("PASS" if st == "PASS" else "FAIL", ".".join(path + [c["name"]])))
walk(d, [])
if not out:
    out.append(("FAIL", "no test case ran"))
for st, n in out:
    print(st, n)
PY
	)
}

run_kunit() {
	local tree=$1 kconf=$2 tag=$3 json=$LOGS/$3.json log=$LOGS/$3.log
	rm -f "$json"
	if ! (cd "$tree" && with_build_lock python3 tools/testing/kunit/kunit.py run \
		--arch=arm64 --cross_compile=aarch64-linux-gnu- --jobs="$JOBS" \
		--build_dir=.kunit --kunitconfig="$kconf" --timeout=600 \
		--make_options="CC=ccache aarch64-linux-gnu-gcc" \
		--json="$json") >"$log" 2>&1; then
		grep -E 'FAILED|not ok|ERROR|error:' "$log" | head -n 20 | sed 's/^/    | /'
	fi
	grep -E '^\[..:..:..\] (Testing complete|Elapsed time)' "$log" | sed 's/^/  /' || true
	json_results "$tag" "$json"
}

parse_ktap() {
	local tree=$1 tag=$2 ktap=$3 json=$LOGS/$2.json
	rm -f "$json"
	python3 "$tree/tools/testing/kunit/kunit.py" parse --json="$json" "$ktap" \
		>"$LOGS/$tag.parse.log" 2>&1 || true
	json_results "$tag" "$json"
}
