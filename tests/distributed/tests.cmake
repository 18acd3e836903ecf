# SPDX-License-Identifier: Apache-2.0
# Multi-rank tests (engine/distributed, train/distributed): executables run under mpirun by CTest. Included from
# the top-level CMakeLists.txt when the MPI backend is built. The .cpp files here have no _test suffix, so
# leseg_discover_tests does not also register them as single-process tests.
#   distributed_collectives_np{1,2,3,4}: every collective against hand-computed results (--oversubscribe: more
#                                       ranks than the CI's 2 cores)
#   distributed_training_np2:            2 ranks × B == 1 rank × 2B (sync BN), determinism without sync BN,
#                                       bit-identical resume, sharded evaluation, config mismatch
#   distributed_failure:                 a rank killed / hung mid-step: the job exits non-zero with the message
#                                       within the timeout; `leseg train --nproc 2` runs (tests/distributed/failure_check.sh)
set(_dist ${PROJECT_SOURCE_DIR}/tests/distributed)
set(_mpi_env "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;OMP_WAIT_POLICY=passive;LESEG_DIST_TIMEOUT=120;LESEG_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
set(_mpirun ${MPIEXEC_EXECUTABLE} --oversubscribe --bind-to none)

add_executable(test_distributed_mpi ${_dist}/mpi_collectives.cpp ${_dist}/mpi_training.cpp)
leseg_common_options(test_distributed_mpi)
target_link_libraries(test_distributed_mpi PRIVATE leseg_train GTest::gtest GTest::gtest_main)

foreach(_np 1 2 3 4)
  add_test(NAME distributed_collectives_np${_np}
           COMMAND ${_mpirun} -np ${_np} $<TARGET_FILE:test_distributed_mpi> --gtest_filter=MpiCollectives.*)
  set_tests_properties(distributed_collectives_np${_np} PROPERTIES LABELS cpu TIMEOUT 180 ENVIRONMENT "${_mpi_env}")
endforeach()

add_test(NAME distributed_training_np2
         COMMAND ${_mpirun} -np 2 $<TARGET_FILE:test_distributed_mpi> --gtest_filter=MpiTraining.*)
set_tests_properties(distributed_training_np2 PROPERTIES LABELS cpu TIMEOUT 600 ENVIRONMENT "${_mpi_env}")

if(TARGET leseg)
  add_test(NAME distributed_failure
           COMMAND ${_dist}/failure_check.sh $<TARGET_FILE:leseg> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(distributed_failure PROPERTIES LABELS cpu TIMEOUT 600 ENVIRONMENT "${_mpi_env}")
endif()
