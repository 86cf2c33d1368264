#!/bin/sh
# fuzz/run.sh — runs the libFuzzer harnesses built by `make fuzz-build`
# (see docs/fuzzing.md).
#   sh fuzz/run.sh run SECONDS NAME...     fuzz each NAME for SECONDS
#   sh fuzz/run.sh regress 0 NAME...       replay fuzz/regressions/NAME and
#                                          fuzz/corpus/NAME once each
# Exits non-zero at the first harness reporting a crash, a leak, a timeout
# or a sanitizer report. Executions reached are appended to
# build/fuzz/execs.log ("NAME SECONDS EXECS").
set -u
mode=$1; secs=$2; shift 2
B=build/fuzz
mkdir -p $B/artifacts $B/logs
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for name in "$@"; do
  bin=$B/bin/fuzz_$name
  dict=""; [ -f fuzz/dict/$name.dict ] && dict="-dict=fuzz/dict/$name.dict"
  log=$B/logs/$name.log
  # fuzz_worker_ops: leaks are checked at exit, once the executors are idle
  # (tasks in flight live in LuaJIT memory, unseen by LeakSanitizer)
  extra=""; [ "$name" = worker_ops ] && extra="-detect_leaks=0"
  if [ "$mode" = run ]; then
    mkdir -p $B/corpus/$name
    seeds=""; [ -d fuzz/corpus/$name ] && seeds=fuzz/corpus/$name
    echo "== fuzz_$name: $secs s"
    $bin -max_total_time=$secs -timeout=10 -rss_limit_mb=2560 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix=$B/artifacts/$name- \
      $dict $extra $B/corpus/$name $seeds >$log 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $log | tail -1)
    echo "$name $secs ${execs:-0}" >> $B/execs.log
    echo "   ${execs:-0} executions, exit $rc"
  else
    files=""
    for d in fuzz/regressions/$name fuzz/corpus/$name; do
      [ -d $d ] && [ -n "$(ls -A $d)" ] && files="$files $(ls -d $d/* )"
    done
    [ -z "$files" ] && continue
    echo "== fuzz_$name: replaying $(echo $files | wc -w) inputs"
    $bin -timeout=10 -rss_limit_mb=2560 $extra $files >$log 2>&1
    rc=$?
  fi
  if [ $rc -ne 0 ]; then
    echo "fuzz_$name FAILED (exit $rc); the end of $log:"
    tail -40 $log
    status=1
  fi
done
exit $status
