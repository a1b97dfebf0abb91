#!/usr/bin/env bash
# Every input in tests/fuzz/corpus/ goes through its parser without a crash (sanitizers in test-asan).
set -eu
cd "$(dirname "$0")/../.."
scripts/fuzz_replay.sh
