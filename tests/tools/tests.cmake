# SPDX-License-Identifier: Apache-2.0
# tools/export's Python tests and the real-data chain, through tests/tools/run_python.sh (exit 77 = Skipped, with
# the reason, when the exporter venv or the shared data is absent). Included from the top-level CMakeLists.txt.
#   tools_export_helpers   file-writing helpers without torch (seconds)                      label cpu
#   tools_export_models    every subcommand with random-init real architectures + inspect    label slow
#   real_data_chain        scripts/real_data_chain.sh on the bundled mOSD RGB-D frames        label slow
set(_tools_run ${PROJECT_SOURCE_DIR}/tests/tools/run_python.sh)
if(TARGET leseg)
  set(_tools_bin $<TARGET_FILE:leseg>)
else()
  set(_tools_bin none)
endif()
add_test(NAME tools_export_helpers COMMAND ${_tools_run} ${PROJECT_SOURCE_DIR} ${_tools_bin} helpers)
set_tests_properties(tools_export_helpers PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 120)
add_test(NAME tools_export_models COMMAND ${_tools_run} ${PROJECT_SOURCE_DIR} ${_tools_bin} models)
set_tests_properties(tools_export_models PROPERTIES LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 1800)
add_test(NAME real_data_chain COMMAND ${_tools_run} ${PROJECT_SOURCE_DIR} ${_tools_bin} chain)
set_tests_properties(real_data_chain PROPERTIES LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 1800)
