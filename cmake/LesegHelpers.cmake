# SPDX-License-Identifier: Apache-2.0
# Folder-driven targets.
#  - leseg_layer_library(NAME DIR): every *.cpp under DIR (and *.cu when LESEG_CUDA) except main.cpp.
#  - tests/<path>/*_test.cpp      -> one GoogleTest executable per folder, CTest label `cpu`
#    tests/<path>/*_gpu_test.cpp  -> a second executable for that folder, label `gpu` (skips without a device)
#    tests/<path>/*_slow_test.cpp -> a third, label `slow`
#    tests/support/ holds the GPU executables' main (no tests of its own)
#    Other *.cpp in a test folder (case registries, helpers) are linked into each of that folder's executables.
#  - benchmarks/<path>/*.cpp      -> one Google Benchmark executable per folder (bench_<id>); a folder with a
#    main.cpp is a plain program instead (leseg_<id>).

function(leseg_common_options target)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr --extended-lambda -Xcompiler=-Wall,-Wno-unused-parameter>)
  if(LESEG_NATIVE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
  if(LESEG_CUDA)
    target_compile_definitions(${target} PUBLIC LESEG_WITH_CUDA=1)
  else()
    target_compile_definitions(${target} PUBLIC LESEG_WITH_CUDA=0)
  endif()
endfunction()

# Run-time ISA dispatch (kernels/common/isa.h): every *_x86v3.cpp of a library is compiled with -march=x86-64-v3
# (AVX2, FMA, BMI2, F16C) and every *_x86v4.cpp with -march=x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), each with Eigen
# renamed (no shared inline symbols with the baseline copy), and the library says LESEG_ISA_X86V3=1 /
# LESEG_ISA_X86V4=1 so that the entry points can call them. Off with -DLESEG_ISA_DISPATCH=OFF or where the
# compiler or target cannot (non-x86-64): those files then compile to nothing and the baseline copy runs.
function(leseg_isa_variants target srcs)
  foreach(_lvl 3 4)
    set(_files ${srcs})
    list(FILTER _files INCLUDE REGEX "_x86v${_lvl}\\.cpp$")
    set(_on 0)
    if(_files AND LESEG_ISA_DISPATCH AND LESEG_HAVE_X86V${_lvl}_FLAG)
      set(_on 1)
      set(_opts "-march=x86-64-v${_lvl};-mtune=generic")
      if(_lvl EQUAL 4)  # GCC 12 warns inside its own AVX-512 headers for Eigen's ptranspose (_mm256_undefined_pd)
        list(APPEND _opts "-Wno-maybe-uninitialized")
      endif()
      set_source_files_properties(${_files} PROPERTIES
        COMPILE_OPTIONS "${_opts}"
        COMPILE_DEFINITIONS "Eigen=leseg_eigen_x86v${_lvl}")
    endif()
    target_compile_definitions(${target} PRIVATE LESEG_ISA_X86V${_lvl}=${_on})
  endforeach()
endfunction()

function(leseg_layer_library name dir)
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/*.cpp)
  list(FILTER _srcs EXCLUDE REGEX "/main\\.cpp$")
  if(LESEG_CUDA)
    file(GLOB_RECURSE _cu CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/*.cu)
    list(APPEND _srcs ${_cu})
  endif()
  if(NOT _srcs)
    set(_stub ${CMAKE_BINARY_DIR}/${name}_empty.cpp)
    file(WRITE ${_stub} "// ${dir}/ has no sources yet\n")
    set(_srcs ${_stub})
  endif()
  add_library(${name} STATIC ${_srcs})
  leseg_common_options(${name})
  leseg_isa_variants(${name} "${_srcs}")
  if(LESEG_CUDA)
    set_target_properties(${name} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF CUDA_RESOLVE_DEVICE_SYMBOLS ON)
  endif()
endfunction()

function(_leseg_test_exe name label sources helpers)
  add_executable(${name} ${sources} ${helpers})
  leseg_common_options(${name})
  if(label STREQUAL "gpu")
    # scratch TMPDIR plus LESEG_REQUIRE_GPU=1 (a skipped GPU test fails): tests/support/test_main.cpp
    target_link_libraries(${name} PRIVATE leseg_train GTest::gtest leseg_gpu_test_main)
  else()
    # scratch TMPDIR per process, removed at exit: tests/support/test_main.cpp
    target_link_libraries(${name} PRIVATE leseg_train GTest::gtest leseg_test_main)
  endif()
  target_compile_definitions(${name} PRIVATE LESEG_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name}
    TEST_PREFIX "${name}."
    PROPERTIES LABELS ${label}
               ENVIRONMENT "LESEG_SOURCE_DIR=${PROJECT_SOURCE_DIR};OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive"
    DISCOVERY_TIMEOUT 120)
endfunction()

function(leseg_discover_tests root)
  file(GLOB_RECURSE _all CONFIGURE_DEPENDS ${root}/*.cpp)
  set(_dirs "")
  foreach(_f ${_all})
    get_filename_component(_d ${_f} DIRECTORY)
    list(APPEND _dirs ${_d})
  endforeach()
  list(REMOVE_DUPLICATES _dirs)
  foreach(_d ${_dirs})
    file(RELATIVE_PATH _rel ${root} ${_d})
    string(REPLACE "/" "_" _id "${_rel}")
    if(_id STREQUAL "")
      set(_id "root")
    endif()
    file(GLOB _cpp CONFIGURE_DEPENDS ${_d}/*.cpp)
    set(_gpu "")
    set(_slow "")
    set(_cpu "")
    set(_help "")
    foreach(_f ${_cpp})
      if(_f MATCHES "_gpu_test\\.cpp$")
        list(APPEND _gpu ${_f})
      elseif(_f MATCHES "_slow_test\\.cpp$")
        list(APPEND _slow ${_f})
      elseif(_f MATCHES "_test\\.cpp$")
        list(APPEND _cpu ${_f})
      else()
        list(APPEND _help ${_f})
      endif()
    endforeach()
    if(_cpu)
      _leseg_test_exe(test_${_id} cpu "${_cpu}" "${_help}")
    endif()
    if(_gpu)
      _leseg_test_exe(test_${_id}_gpu gpu "${_gpu}" "${_help}")
    endif()
    if(_slow)
      _leseg_test_exe(test_${_id}_slow slow "${_slow}" "${_help}")
    endif()
  endforeach()
endfunction()

function(leseg_discover_benchmarks root)
  file(GLOB_RECURSE _all CONFIGURE_DEPENDS ${root}/*.cpp)
  set(_dirs "")
  foreach(_f ${_all})
    get_filename_component(_d ${_f} DIRECTORY)
    list(APPEND _dirs ${_d})
  endforeach()
  list(REMOVE_DUPLICATES _dirs)
  foreach(_d ${_dirs})
    file(RELATIVE_PATH _rel ${root} ${_d})
    string(REPLACE "/" "_" _id "${_rel}")
    file(GLOB _cpp CONFIGURE_DEPENDS ${_d}/*.cpp)
    if(EXISTS ${_d}/main.cpp)
      # A folder with its own main.cpp is a plain program, leseg_<id> (benchmarks/baselines: the harness worker).
      add_executable(leseg_${_id} ${_cpp})
      leseg_common_options(leseg_${_id})
      target_link_libraries(leseg_${_id} PRIVATE leseg_train)
      continue()
    endif()
    add_executable(bench_${_id} ${_cpp})
    leseg_common_options(bench_${_id})
    target_link_libraries(bench_${_id} PRIVATE leseg_train benchmark::benchmark benchmark::benchmark_main)
  endforeach()
endfunction()
