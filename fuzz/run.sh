#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) from the seed corpus in fuzz/corpus,
# growing a working corpus under fuzz/target/corpus. A crash, an abort, a leak, a unit
# slower than 10 s or one taking more than 2 GiB fails the run; the input is kept under
# fuzz/artifacts/<target>/. cargo-fuzz runs on the stable toolchain with RUSTC_BOOTSTRAP=1
# (it needs -Z sanitizer flags); `.ci/run` installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^echoflow-fuzz$')}
export RUSTC_BOOTSTRAP=1
echo "==> building fuzz targets: $(echo $targets)"
cargo fuzz build -O
for target in $targets; do
  mkdir -p "fuzz/target/corpus/$target"
  echo "==> fuzzing $target for ${seconds}s"
  cargo fuzz run -O "$target" "fuzz/target/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1 \
    2>&1 | grep -E '^(#[0-9]+ +(DONE|pulse))|^stat::number_of_executed_units|^Done|ERROR|panicked|SUMMARY|artifact' || true
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target failed (exit $status); reproducer in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
done
echo "==> fuzzing passed: $(echo $targets)"
