#!/usr/bin/env bash
# The dry run's checks for scripts/gpu_check.sh (it calls this; see there).
#
#   gpu_check_verify.sh BUILD_DIR ROOT DEPS_DIR "CARRY..." TIMEOUT_S SETUP_S "LIMITS..."
#     1. provenance: no header (DEPS_DIR: the compiler's .d files) or library
#        (BUILD_DIR/build.ninja's link lines) of the dry-run build belongs to a
#        package the device lacks (the .debs/ packages) unless it came from the
#        scratch ROOT they were unpacked into; and each carried header family
#        was really compiled from there (else the check proves nothing);
#     2. the device command: docs/gpu.md documents the carry list and timeout_s
#        the script needs, the stage limits fit in it, and what travels fits
#        the device's 64 MiB.
#   gpu_check_verify.sh --outputs OUT
#     3. OUT obeys the device's limits on what comes back: at most 8 files of at
#        most 16 MiB, 64 MiB together, no deeper than 2 folders, plain files with
#        names of letters, digits, '.', '_' and '-'.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
bad() { echo "verify: FAIL: $*"; fail=1; }
ok() { echo "verify: ok: $*"; }

if [[ ${1:-} == --outputs ]]; then
  out=$2
  files=$(find "$out" -mindepth 1 ! -type d | wc -l)
  ((files <= 8)) && ok "$files files in \$OUT (at most 8)" || bad "$files files in \$OUT, the device returns 8"
  while IFS= read -r -d '' f; do
    rel=${f#"$out"/}
    [[ -f $f && ! -L $f ]] || bad "$rel is not a plain file"
    (($(stat -c %s "$f") <= 16 * 1024 * 1024)) || bad "$rel is over 16 MiB"
    (($(tr -cd / <<<"$rel" | wc -c) <= 2)) || bad "$rel is more than 2 folders down"
    IFS=/ read -r -a parts <<<"$rel"
    for part in "${parts[@]}"; do [[ $part =~ ^[A-Za-z0-9._-]+$ ]] || bad "$rel: name '$part'"; done
  done < <(find "$out" -mindepth 1 ! -type d -print0)
  total=$(du -sb "$out" | cut -f1)
  ((total <= 64 * 1024 * 1024)) && ok "\$OUT holds $total bytes" || bad "\$OUT holds $total bytes, over 64 MiB"
  exit $fail
fi

build_dir=$1 root=$2 deps_dir=$3 carry=($4) timeout_s=$5 setup_s=$6 limits=($7)

# ---- 1. provenance
packages=()
for f in .debs/*.deb; do packages+=("$(dpkg-deb -f "$f" Package)"); done
owned=$(mktemp)
for p in "${packages[@]}"; do
  dpkg -L "$p" 2>/dev/null | while IFS= read -r path; do
    [[ -f $path ]] && realpath -e "$path"
  done
done | sort -u >"$owned"
ok "${#packages[@]} carried packages; $(wc -l <"$owned") of their files are installed on this machine"

used=$(mktemp)
cat "$deps_dir"/*.d 2>/dev/null | tr -s ' \\' '\n\n' | grep -vE ':$|^$' >"$used.headers"
grep -oE '/[^ :$"]+\.(so|a)(\.[0-9.]+)?' "$build_dir/build.ninja" 2>/dev/null >"$used.libs"
cat "$used.headers" "$used.libs" | sed "s#^\([^/]\)#$build_dir/\1#" | while IFS= read -r path; do
  realpath -e "$path" 2>/dev/null
done | sort -u >"$used"
((($(wc -l <"$used.headers")) > 0)) || bad "no dependency files in $deps_dir"
leaks=$(comm -12 "$used" "$owned")
if [[ -n $leaks ]]; then
  bad "the build used files of carried packages from this machine's system, which the device lacks:"
  head -n 20 <<<"$leaks" | sed 's/^/    /'
else
  ok "no header or library of a carried package came from outside the scratch root"
fi
# Each family must have been compiled from the carried copy, or the check above proves nothing.
for header in cblas.h nlohmann/json.hpp zlib.h gtest/gtest.h benchmark/benchmark.h CLI/CLI.hpp cudnn.h cudnn_frontend.h; do
  from=$(grep -m1 -E "/${header//./\\.}\$" "$used.headers")
  case $from in
    "$root"/*|"$PWD"/.deps/*|.deps/*) ok "$header from ${from#"$PWD"/}" ;;
    # The toolkit's include folder precedes ours; the device has its toolkit too,
    # and cuDNN is dlopened, so a header older or newer than the library is fine.
    /usr/local/cuda*/cudnn.h) ok "$header from the CUDA toolkit ($from), ahead of the carried copy" ;;
    "") [[ $header == cudnn_frontend.h ]] && continue; bad "$header: no compiled object included it" ;;
    *) bad "$header came from $from, not from the carried copy" ;;
  esac
done
grep -oE '(BLAS_[A-Za-z_]*LIBRARIES|ZLIB_LIBRARY_RELEASE|GTest_DIR|benchmark_DIR|CLI11_DIR|nlohmann_json_DIR):[A-Z]*=.*' \
  "$build_dir/CMakeCache.txt" | sed 's/^/verify: found: /'
rm -f "$owned" "$used" "$used.headers" "$used.libs"

# ---- 2. the device command
doc=docs/gpu.md
carry_doc="carry: [$(printf '"%s", ' "${carry[@]}" | sed 's/, $//')]"
grep -qF -- "$carry_doc" "$doc" && ok "$doc documents $carry_doc" || bad "$doc does not document $carry_doc"
grep -qF -- "timeout_s: $timeout_s" "$doc" && ok "$doc documents timeout_s: $timeout_s" ||
  bad "$doc does not document timeout_s: $timeout_s"
sum=$setup_s
for l in "${limits[@]}"; do sum=$((sum + l)); done
((sum < timeout_s && timeout_s <= 600)) && ok "stage limits + setup = $sum s < timeout_s $timeout_s (at most 600)" ||
  bad "stage limits + setup = $sum s, timeout_s $timeout_s (must be larger, and at most 600)"
for c in "${carry[@]}"; do [[ -e $c ]] || bad "carried path $c does not exist (scripts/fetch_gpu_debs.sh)"; done
tree=$(git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
carried=$(du -sbc "${carry[@]}" 2>/dev/null | tail -n 1 | cut -f1)
travel=$((tree + carried))
((travel <= 60 * 1024 * 1024)) && ok "what travels: tree $((tree >> 20)) MiB + carried $((carried >> 20)) MiB (limit 64)" ||
  bad "what travels is $((travel >> 20)) MiB: the device takes 64 MiB (keep 4 spare)"
exit $fail
