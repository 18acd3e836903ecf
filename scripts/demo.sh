#!/usr/bin/env bash
# Set-up + build + the main job. For now: the spiral MLP example trained on CPU with the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
LESEG_TARGETS=spiral scripts/build.sh
"${LESEG_BUILD_DIR:-build}"/spiral "$@"
