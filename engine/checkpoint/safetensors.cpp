// SPDX-License-Identifier: Apache-2.0
#include "engine/checkpoint/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "engine/host_sync.h"

namespace leseg {

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // same limit as the reference implementation

std::string shape_json(const Shape& s) {
  std::string r = "[";
  for (int i = 0; i < s.ndim(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  return r + "]";
}
}  // namespace

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32"; case DType::f64: return "F64"; case DType::f16: return "F16";
    case DType::bf16: return "BF16"; case DType::i32: return "I32"; case DType::i64: return "I64";
    case DType::u8: return "U8"; case DType::b8: return "BOOL";
  }
  return "?";
}

DType safetensors_dtype_from_name(const std::string& s, const std::string& context) {
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  if (s == "F16") return DType::f16;
  if (s == "BF16") return DType::bf16;
  if (s == "I32") return DType::i32;
  if (s == "I64") return DType::i64;
  if (s == "U8") return DType::u8;
  if (s == "BOOL") return DType::b8;
  LESEG_FAIL(context, ": unsupported dtype '", s, "' (F32, F64, F16, BF16, I32, I64, U8, BOOL)");
}

std::string safetensors_serialize(const StateDict& tensors, const std::map<std::string, std::string>& metadata) {
  // Header built by hand: keys in sorted order, compact, deterministic bytes.
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":" + nlohmann::json(metadata).dump();
    first = false;
  }
  uint64_t off = 0;
  for (const auto& [name, t] : tensors) {  // std::map: sorted by name
    LESEG_CHECK(name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
    LESEG_CHECK(t.defined(), "safetensors: tensor '", name, "' is undefined");
    uint64_t nb = t.nbytes();
    header += std::string(first ? "" : ",") + nlohmann::json(name).dump() + ":{\"dtype\":\"" +
              safetensors_dtype_name(t.dtype()) + "\",\"shape\":" + shape_json(t.shape()) + ",\"data_offsets\":[" +
              std::to_string(off) + "," + std::to_string(off + nb) + "]}";
    first = false;
    off += nb;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string out(8 + header.size() + off, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  // The tensors' bytes, without one synchronising read per tensor (engine/host_sync.h):
  //   - tensors on a CUDA device are packed on it by device-to-device copies (queued, no wait) into a staging buffer
  //     of at most kPackBytes, which comes to the host in one read (one per device and chunk; a larger tensor is its
  //     own read);
  //   - CPU tensors are copied directly; on a CPU run they stand for device tensors, so their copies are noted as one
  //     would-be read, the read a GPU run makes for them.
  constexpr size_t kPackBytes = size_t(64) << 20;
  struct Piece {
    const Tensor* t;
    size_t pos;
  };
  std::vector<Piece> host_pieces;
  std::map<int, std::vector<Piece>> device_pieces;  // by CUDA device index, in header order
  size_t pos = 8 + header.size();
  for (const auto& [name, t] : tensors) {
    if (t.nbytes()) (t.device().is_cpu() ? host_pieces : device_pieces[t.device().index]).push_back({&t, pos});
    pos += t.nbytes();
  }
  if (!host_pieces.empty()) {
    size_t bytes = 0;
    {
      detail::DeviceCopyScope scope;  // noted once below, not per tensor
      for (const Piece& p : host_pieces) {
        copy_bytes(out.data() + p.pos, Device::cpu(), p.t->data_ptr(), Device::cpu(), p.t->nbytes());
        bytes += p.t->nbytes();
      }
    }
    if (host_sync_counting())
      note_host_sync(HostSyncKind::Read, Device::cpu(),
                     "safetensors: " + std::to_string(host_pieces.size()) + " tensors, " + std::to_string(bytes) +
                         " bytes in one read");
  }
  for (const auto& [index, pieces] : device_pieces) {
    const Device d = pieces.front().t->device();
    std::vector<char> host;
    for (size_t i = 0; i < pieces.size();) {
      // One chunk: pieces [i, j) packed back to back (a piece over kPackBytes alone).
      size_t j = i, bytes = 0;
      while (j < pieces.size() && (j == i || bytes + pieces[j].t->nbytes() <= kPackBytes)) bytes += pieces[j++].t->nbytes();
      if (j == i + 1) {
        copy_bytes(out.data() + pieces[i].pos, Device::cpu(), pieces[i].t->data_ptr(), d, bytes);
      } else {
        const Tensor staging = Tensor::empty(Shape{int64_t(bytes)}, DType::u8, d);
        char* dst = static_cast<char*>(staging.data_ptr());
        size_t off = 0;
        for (size_t k = i; k < j; ++k) {
          copy_bytes(dst + off, d, pieces[k].t->data_ptr(), d, pieces[k].t->nbytes());  // device to device, queued
          off += pieces[k].t->nbytes();
        }
        host.resize(bytes);
        copy_bytes(host.data(), Device::cpu(), dst, d, bytes);  // the one read of this chunk
        off = 0;
        for (size_t k = i; k < j; ++k) {
          std::memcpy(out.data() + pieces[k].pos, host.data() + off, pieces[k].t->nbytes());
          off += pieces[k].t->nbytes();
        }
      }
      i = j;
    }
  }
  return out;
}

SafetensorsContent safetensors_parse(const std::string& bytes, const std::string& source, Device device) {
  const std::string& src = source;
  LESEG_CHECK(bytes.size() >= 8, "safetensors '", src, "': file is ", bytes.size(),
              " bytes, too short for the 8-byte header length (truncated?)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  LESEG_CHECK(n <= kMaxHeader, "safetensors '", src, "': header length ", n, " exceeds the ", kMaxHeader, "-byte limit");
  LESEG_CHECK(8 + n <= bytes.size(), "safetensors '", src, "': header length ", n, " runs past the end of the ",
              bytes.size(), "-byte file (truncated or bad header length)");
  LESEG_CHECK(n >= 2 && bytes[8] == '{', "safetensors '", src, "': header does not start with '{'");
  std::string_view hv(bytes.data() + 8, size_t(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(hv.begin(), hv.end());
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL("safetensors '", src, "': header is not valid JSON: ", e.what());
  }
  LESEG_CHECK(h.is_object(), "safetensors '", src, "': header is not a JSON object");
  uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsContent out;
  struct Range { uint64_t b, e; std::string name; };
  std::vector<Range> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      LESEG_CHECK(v.is_object(), "safetensors '", src, "': __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        LESEG_CHECK(m.value().is_string(), "safetensors '", src, "': __metadata__ value for '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string ctx = "safetensors '" + src + "', tensor '" + name + "'";
    LESEG_CHECK(v.is_object(), ctx, ": entry is not an object");
    for (auto f = v.begin(); f != v.end(); ++f)
      LESEG_CHECK(f.key() == "dtype" || f.key() == "shape" || f.key() == "data_offsets", ctx, ": unknown field '",
                  f.key(), "'");
    LESEG_CHECK(v.contains("dtype") && v["dtype"].is_string(), ctx, ": missing or non-string 'dtype'");
    LESEG_CHECK(v.contains("shape") && v["shape"].is_array(), ctx, ": missing or non-array 'shape'");
    LESEG_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2, ctx,
                ": 'data_offsets' must be an array of two integers");
    DType dt = safetensors_dtype_from_name(v["dtype"].get<std::string>(), ctx);
    std::vector<int64_t> dims;
    LESEG_CHECK(v["shape"].size() <= size_t(kMaxDims), ctx, ": ", v["shape"].size(), " dimensions (at most ", kMaxDims, ")");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      LESEG_CHECK(d.is_number_unsigned(), ctx, ": shape entries must be non-negative integers, got ", d.dump());
      uint64_t x = d.get<uint64_t>();
      LESEG_CHECK(x < (1ull << 48) && (x == 0 || numel <= (1ull << 48) / x), ctx, ": shape ", v["shape"].dump(), " is too large");
      numel *= x;
      dims.push_back(int64_t(x));
    }
    const auto& o = v["data_offsets"];
    LESEG_CHECK(o[0].is_number_unsigned() && o[1].is_number_unsigned(), ctx,
                ": data_offsets must be non-negative integers, got ", o.dump());
    uint64_t b = o[0].get<uint64_t>(), e = o[1].get<uint64_t>();
    LESEG_CHECK(b <= e, ctx, ": data_offsets [", b, ", ", e, "] are reversed");
    LESEG_CHECK(e <= data_size, ctx, ": data_offsets [", b, ", ", e, "] out of range: the data section has ", data_size,
                " bytes (truncated file?)");
    uint64_t want = numel * dtype_size(dt);
    LESEG_CHECK(e - b == want, ctx, ": ", e - b, " bytes in data_offsets but shape ", v["shape"].dump(), " x ",
                v["dtype"].get<std::string>(), " needs ", want);
    ranges.push_back({b, e, name});
    Tensor t = Tensor::empty(Shape(dims), dt, Device::cpu());
    if (want) std::memcpy(t.data_ptr(), data + b, size_t(want));
    if (dt == DType::b8) {  // only 0/1 are valid bools
      const uint8_t* p = static_cast<const uint8_t*>(t.data_ptr());
      for (uint64_t i = 0; i < numel; ++i) LESEG_CHECK(p[i] <= 1, ctx, ": BOOL byte ", i, " has value ", int(p[i]));
    }
    out.tensors[name] = device.is_cpu() ? t : t.to(device);
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.b < b.b || (a.b == b.b && a.e < b.e); });
  for (size_t i = 1; i < ranges.size(); ++i)
    LESEG_CHECK(ranges[i].b >= ranges[i - 1].e || ranges[i].b == ranges[i].e || ranges[i - 1].b == ranges[i - 1].e,
                "safetensors '", src, "': tensors '", ranges[i - 1].name, "' [", ranges[i - 1].b, ", ", ranges[i - 1].e,
                ") and '", ranges[i].name, "' [", ranges[i].b, ", ", ranges[i].e, ") overlap");
  return out;
}

void write_file(const std::string& path, const std::string& bytes, bool fsync_file) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LESEG_CHECK(fd >= 0, "cannot open '", path, "' for writing: ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      ::close(fd);
      LESEG_FAIL("write to '", path, "' failed: ", std::strerror(err));
    }
    done += size_t(w);
  }
  if (fsync_file && ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    LESEG_FAIL("fsync of '", path, "' failed: ", std::strerror(err));
  }
  LESEG_CHECK(::close(fd) == 0, "close of '", path, "' failed: ", std::strerror(errno));
}

void save_safetensors(const std::string& path, const StateDict& tensors, const std::map<std::string, std::string>& metadata,
                      bool fsync_file) {
  write_file(path, safetensors_serialize(tensors, metadata), fsync_file);
}

SafetensorsContent load_safetensors(const std::string& path, Device device) {
  std::ifstream f(path, std::ios::binary);
  LESEG_CHECK(f.good(), "safetensors: cannot open '", path, "' for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return safetensors_parse(ss.str(), path, device);
}

}  // namespace leseg
