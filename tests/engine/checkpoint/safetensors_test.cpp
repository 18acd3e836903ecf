// SPDX-License-Identifier: Apache-2.0
// safetensors: round trip of every dtype, the exact byte layout against a hand-written golden file,
// a cross-check with the Python reference implementation (skipped visibly when not installed), and
// corrupted files that must fail with an error naming the file and tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/checkpoint/safetensors.h"
#include "engine/host_sync.h"

using namespace leseg;
namespace fs = std::filesystem;

namespace {
std::string tmp_path(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("leseg_st_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

StateDict all_dtypes() {
  StateDict sd;
  sd["f32"] = Tensor::from_vector<float>({1.5f, -2.25f, 3e-8f}, Shape{3});
  sd["f64"] = Tensor::from_vector<double>({1.0 / 3, -1e300, 0, 7, 8, 9}, Shape{2, 3});
  sd["f16"] = Tensor::from_vector<float>({0.5f, -65504.f, 1.0f / 1024}, Shape{3, 1}).to(DType::f16);
  sd["bf16"] = Tensor::from_vector<float>({3.140625f, -1e30f}, Shape{2}).to(DType::bf16);
  sd["i32"] = Tensor::from_vector<int32_t>({-7, 2147483647}, Shape{1, 2});
  sd["i64"] = Tensor::scalar<int64_t>(-(int64_t(1) << 40));
  sd["u8"] = Tensor::from_vector<uint8_t>({0, 255, 17}, Shape{3});
  sd["bool"] = Tensor::from_vector<bool>({true, false, true, true}, Shape{2, 2});
  sd["empty"] = Tensor::zeros(Shape{0, 4});
  return sd;
}

std::vector<uint8_t> raw(const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  if (!b.empty()) copy_bytes(b.data(), Device::cpu(), t.data_ptr(), t.device(), b.size());
  return b;
}

void expect_error(const std::string& bytes, const std::vector<std::string>& needles) {
  try {
    safetensors_parse(bytes, "bad.safetensors");
    FAIL() << "expected an error containing '" << needles[0] << "'";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "missing '" << n << "' in: " << m;
  }
}

std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}
}  // namespace

TEST(Safetensors, RoundTripAllDtypes) {
  StateDict sd = all_dtypes();
  std::string path = tmp_path("all.safetensors");
  save_safetensors(path, sd, {{"format", "pt"}, {"note", "h\u00e9llo \"quoted\""}});
  SafetensorsContent c = load_safetensors(path);
  EXPECT_EQ(c.metadata.at("format"), "pt");
  EXPECT_EQ(c.metadata.at("note"), "h\u00e9llo \"quoted\"");
  ASSERT_EQ(c.tensors.size(), sd.size());
  for (const auto& [k, t] : sd) {
    const Tensor& r = c.tensors.at(k);
    EXPECT_EQ(r.dtype(), t.dtype()) << k;
    EXPECT_EQ(r.shape(), t.shape()) << k;
    EXPECT_EQ(raw(r), raw(t)) << k;
  }
  EXPECT_EQ(c.tensors.at("i64").item<int64_t>(), -(int64_t(1) << 40));
}

// A save reads its tensors in one read (on a CPU run: one would-be read for all of them), not one per tensor, and the
// bytes are each tensor's own.
TEST(Safetensors, SerializeReadsOnce) {
  StateDict sd = all_dtypes();
  for (int i = 0; i < 40; ++i) sd["layer" + std::to_string(i)] = Tensor::full(Shape{3, 5}, double(i), DType::f32);
  HostSyncCounter counter;
  const std::string bytes = safetensors_serialize(sd);
  EXPECT_EQ(counter.count(HostSyncKind::Read), 1) << counter.report();
  const SafetensorsContent back = safetensors_parse(bytes, "reads_once.safetensors");
  for (const auto& [name, t] : sd) EXPECT_EQ(raw(back.tensors.at(name)), raw(t)) << name;
}

TEST(Safetensors, GoldenByteLayout) {
  StateDict sd;
  sd["b"] = Tensor::scalar<int64_t>(7);
  sd["a"] = Tensor::from_vector<float>({1.0f, 2.0f}, Shape{2});
  std::string bytes = safetensors_serialize(sd, {{"k", "v"}});
  // Hand-written: sorted names, "a" first at [0, 8), then "b" at [8, 16); header padded with spaces to 8.
  std::string header =
      "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
  while (header.size() % 8) header += ' ';
  std::string data;
  data += std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);   // 1.0f, 2.0f little-endian
  data += std::string("\x07\x00\x00\x00\x00\x00\x00\x00", 8);   // 7 as i64
  std::string golden = with_header(header, data);
  ASSERT_EQ(bytes.size(), golden.size());
  EXPECT_EQ(bytes, golden);
  EXPECT_EQ((8 + header.size()) % 8, 0u);
}

TEST(Safetensors, PythonCrossCheck) {
  if (std::system("python3 -c 'import safetensors, numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with safetensors + numpy not available (pip install safetensors numpy) - cross-check skipped";
  // We write, Python reads (numpy has no bf16: that one is checked by our own reader above).
  StateDict sd = all_dtypes();
  sd.erase("bf16");
  std::string ours = tmp_path("ours.safetensors");
  save_safetensors(ours, sd, {{"format", "pt"}});
  std::string script = tmp_path("check.py");
  std::ofstream(script) << R"PY(
import sys, numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
d = load_file(sys.argv[1])
exp = {
  "f32": np.array([1.5, -2.25, 3e-8], np.float32),
  "f64": np.array([[1/3, -1e300, 0], [7, 8, 9]], np.float64),
  "f16": np.array([[0.5], [-65504.0], [1/1024]], np.float16),
  "i32": np.array([[-7, 2147483647]], np.int32),
  "i64": np.array(-(1 << 40), np.int64),
  "u8": np.array([0, 255, 17], np.uint8),
  "bool": np.array([[True, False], [True, True]]),
  "empty": np.zeros((0, 4), np.float32),
}
assert sorted(d) == sorted(exp), (sorted(d), sorted(exp))
for k, v in exp.items():
  assert d[k].dtype == v.dtype and d[k].shape == v.shape, (k, d[k].dtype, d[k].shape)
  assert np.array_equal(d[k], v), (k, d[k], v)
with safe_open(sys.argv[1], "np") as f:
  assert f.metadata() == {"format": "pt"}, f.metadata()
save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5, "n": np.array([3, -4], np.int64)},
          sys.argv[2], metadata={"by": "python"})
print("python-ok")
)PY";
  std::string theirs = tmp_path("theirs.safetensors");
  std::string cmd = "python3 " + script + " " + ours + " " + theirs + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = ::pclose(p);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("python-ok"), std::string::npos) << out;
  // Python wrote, we read.
  SafetensorsContent c = load_safetensors(theirs);
  EXPECT_EQ(c.metadata.at("by"), "python");
  EXPECT_EQ(c.tensors.at("w").shape(), (Shape{2, 3}));
  EXPECT_EQ(c.tensors.at("w").to_vector<float>(), (std::vector<float>{0, 0.5f, 1, 1.5f, 2, 2.5f}));
  EXPECT_EQ(c.tensors.at("n").to_vector<int64_t>(), (std::vector<int64_t>{3, -4}));
}

TEST(Safetensors, CorruptedFilesGiveClearErrors) {
  StateDict sd;
  sd["weight"] = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{2, 2});
  std::string good = safetensors_serialize(sd);
  ASSERT_NO_THROW(safetensors_parse(good, "good"));
  // Truncated: data section cut short -> the tensor's range runs past the end.
  expect_error(good.substr(0, good.size() - 3), {"'weight'", "out of range"});
  expect_error(good.substr(0, 5), {"too short"});
  // Header length larger than the file.
  std::string bad_len = good;
  bad_len[0] = char(0xff);
  bad_len[1] = char(0x7f);
  expect_error(bad_len, {"header length"});
  // Bad JSON.
  expect_error(with_header("{\"weight\": {\"dtype\": \"F32\",, }", std::string(16, '\0')), {"not valid JSON"});
  // Offsets out of range.
  expect_error(with_header("{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", std::string(16, '\0')),
               {"'weight'", "out of range"});
  // Wrong / unknown dtype.
  expect_error(with_header("{\"weight\":{\"dtype\":\"F31\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", std::string(16, '\0')),
               {"'weight'", "dtype 'F31'"});
  // Size does not match shape x dtype.
  expect_error(with_header("{\"weight\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", std::string(16, '\0')),
               {"'weight'", "needs 32"});
  // Overlapping ranges.
  expect_error(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                           std::string(16, '\0')),
               {"'a'", "'b'", "overlap"});
  // Negative shape, missing field, non-object header, bad metadata.
  expect_error(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", ""), {"'w'", "non-negative"});
  expect_error(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", std::string(4, '\0')), {"'w'", "data_offsets"});
  expect_error(with_header("[1, 2]", ""), {"'{'"});
  expect_error(with_header("{\"__metadata__\":{\"k\":1}}", ""), {"__metadata__"});
  // Invalid bool byte.
  expect_error(with_header("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", std::string(1, '\x02')),
               {"'m'", "BOOL"});
  // A missing file names the path.
  try {
    load_safetensors("/nonexistent/dir/x.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.safetensors"), std::string::npos);
  }
}
