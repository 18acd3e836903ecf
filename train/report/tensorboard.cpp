// SPDX-License-Identifier: Apache-2.0
#include "train/report/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "engine/error.h"

#if LESEG_WITH_PROTOBUF
#include "train/report/tensorboard_event.pb.h"
#endif

namespace fs = std::filesystem;

namespace leseg::train::report {

bool tensorboard_available() { return LESEG_WITH_PROTOBUF != 0; }

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // Castagnoli, reflected
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
void put_u32(std::string& s, uint32_t v) {
  for (int k = 0; k < 4; ++k) s += char((v >> (8 * k)) & 0xFF);
}
void put_u64(std::string& s, uint64_t v) {
  for (int k = 0; k < 8; ++k) s += char((v >> (8 * k)) & 0xFF);
}
uint64_t get_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= uint64_t(uint8_t(s[at + size_t(k)])) << (8 * k);
  return v;
}
}  // namespace

#if LESEG_WITH_PROTOBUF

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  fs::create_directories(dir);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  path_ = (fs::path(dir) / ("events.out.tfevents." + std::to_string(int64_t(now_s())) + "." + host)).string();
  out_.open(path_, std::ios::binary | std::ios::app);
  LESEG_CHECK(out_.is_open(), "tensorboard: cannot open '", path_, "' for writing");
  tensorboard::Event e;
  e.set_wall_time(now_s());
  e.set_step(0);
  e.set_file_version("brain.Event:2");
  write_event(e.SerializeAsString());
  flush();
}

void TensorBoardWriter::scalar(const std::string& tag, int64_t step, double value, double wall_time) {
  tensorboard::Event e;
  e.set_wall_time(wall_time < 0 ? now_s() : wall_time);
  e.set_step(step);
  tensorboard::SummaryValue* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(float(value));
  write_event(e.SerializeAsString());
}

std::vector<EventScalar> read_tensorboard_scalars(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LESEG_CHECK(f.is_open(), "tensorboard: cannot read '", path, "'");
  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<EventScalar> out;
  size_t at = 0;
  while (at < s.size()) {
    LESEG_CHECK(at + 12 <= s.size(), "tensorboard: '", path, "': truncated record header at byte ", at);
    const uint64_t len = get_le(s, at, 8);
    LESEG_CHECK(uint32_t(get_le(s, at + 8, 4)) == masked_crc32c(s.data() + at, 8), "tensorboard: '", path,
                "': bad length CRC at byte ", at);
    LESEG_CHECK(at + 12 + len + 4 <= s.size(), "tensorboard: '", path, "': truncated record at byte ", at);
    LESEG_CHECK(uint32_t(get_le(s, at + 12 + len, 4)) == masked_crc32c(s.data() + at + 12, len), "tensorboard: '",
                path, "': bad data CRC at byte ", at);
    tensorboard::Event e;
    LESEG_CHECK(e.ParseFromArray(s.data() + at + 12, int(len)), "tensorboard: '", path, "': record at byte ", at,
                " is not an Event");
    if (e.has_summary())
      for (const auto& v : e.summary().value()) out.push_back({v.tag(), e.step(), e.wall_time(), v.simple_value()});
    at += 12 + len + 4;
  }
  return out;
}

#else

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  LESEG_FAIL("train.tensorboard: true, but this leseg was built without protobuf, so it cannot write TensorBoard event "
             "files (install libprotobuf-dev and protobuf-compiler — scripts/setup.sh does — and rebuild)");
}
void TensorBoardWriter::scalar(const std::string&, int64_t, double, double) {
  LESEG_FAIL("tensorboard: built without protobuf");
}
std::vector<EventScalar> read_tensorboard_scalars(const std::string& path) {
  LESEG_FAIL("tensorboard: built without protobuf: cannot read '", path, "'");
}

#endif

void TensorBoardWriter::write_event(const std::string& bytes) {
  std::string rec;
  put_u64(rec, bytes.size());
  put_u32(rec, masked_crc32c(rec.data(), 8));
  rec += bytes;
  put_u32(rec, masked_crc32c(bytes.data(), bytes.size()));
  out_.write(rec.data(), std::streamsize(rec.size()));
  LESEG_CHECK(out_.good(), "tensorboard: write to '", path_, "' failed");
}

void TensorBoardWriter::flush() { out_.flush(); }

std::vector<std::pair<std::string, double>> tensorboard_tags(const nlohmann::json& rec) {
  std::vector<std::pair<std::string, double>> out;
  if (!rec.is_object()) return out;
  const std::string type = rec.value("type", std::string());
  if (type != "train" && type != "eval") return out;
  static const std::set<std::string> skip = {"type", "step", "epoch", "batch", "scenes", "points", "elapsed_s"};
  for (auto& [k, v] : rec.items()) {
    if (skip.count(k)) continue;
    if (v.is_number() && !v.is_boolean()) {
      out.push_back({type + "/" + k, v.get<double>()});
    } else if (v.is_object()) {
      // terms: train/<term>; lr: train/lr/<slot>; iou: eval/iou/<class>; other objects: <type>/<key>/<sub>
      const std::string prefix = k == "terms" ? type + "/" : type + "/" + k + "/";
      for (auto& [s, x] : v.items())
        if (x.is_number()) out.push_back({prefix + s, x.get<double>()});
    }
  }
  return out;
}

void TensorBoardWriter::record(const nlohmann::json& rec) {
  const auto tags = tensorboard_tags(rec);
  if (tags.empty() || !rec.contains("step") || !rec["step"].is_number_integer()) return;
  const int64_t step = rec["step"].get<int64_t>();
  const double t = now_s();
  for (const auto& [tag, v] : tags) scalar(tag, step, v, t);
  flush();
}

}  // namespace leseg::train::report
