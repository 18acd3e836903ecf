// SPDX-License-Identifier: Apache-2.0
// .npy parser/writer: magic "\x93NUMPY", version byte pair, header length (u16 for v1, u32 for v2/v3),
// a Python dict literal {'descr': .., 'fortran_order': .., 'shape': (..), } padded with spaces and '\n'.
#include "io/formats/npy.h"

#include <algorithm>
#include <cstring>

namespace leseg::io {

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

// Value text following 'key': in the dict literal.
std::string dict_value(const std::string& h, const std::string& key, const std::string& name) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) k = h.find("\"" + key + "\"");
  if (k == std::string::npos) LESEG_FAIL(name, ": npy header has no '", key, "' field: ", h);
  size_t c = h.find(':', k + key.size() + 2);
  if (c == std::string::npos) LESEG_FAIL(name, ": npy header field '", key, "' has no value: ", h);
  size_t s = c + 1;
  while (s < h.size() && h[s] == ' ') ++s;
  if (s >= h.size()) LESEG_FAIL(name, ": npy header field '", key, "' has no value: ", h);
  size_t e;
  if (h[s] == '(') {
    e = h.find(')', s);
    if (e == std::string::npos) LESEG_FAIL(name, ": npy header field '", key, "': unterminated tuple: ", h);
    return h.substr(s, e - s + 1);
  }
  if (h[s] == '\'' || h[s] == '"') {
    e = h.find(h[s], s + 1);
    if (e == std::string::npos) LESEG_FAIL(name, ": npy header field '", key, "': unterminated string: ", h);
    return h.substr(s + 1, e - s - 1);
  }
  e = h.find_first_of(",}", s);
  if (e == std::string::npos) e = h.size();
  std::string v = h.substr(s, e - s);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

NpyHeader parse_header(const std::string& h, const std::string& name) {
  NpyHeader r;
  r.descr = dict_value(h, "descr", name);
  std::string fo = dict_value(h, "fortran_order", name);
  if (fo == "True") r.fortran = true;
  else if (fo == "False") r.fortran = false;
  else LESEG_FAIL(name, ": npy header field 'fortran_order' must be True or False, got '", fo, "'");
  std::string sh = dict_value(h, "shape", name);
  if (sh.size() < 2 || sh.front() != '(' || sh.back() != ')') LESEG_FAIL(name, ": npy header field 'shape' is not a tuple: '", sh, "'");
  std::string body = sh.substr(1, sh.size() - 2);
  size_t p = 0;
  while (p < body.size()) {
    while (p < body.size() && (body[p] == ' ' || body[p] == ',')) ++p;
    if (p >= body.size()) break;
    size_t q = p;
    while (q < body.size() && body[q] >= '0' && body[q] <= '9') ++q;
    if (q == p || q - p > 15) LESEG_FAIL(name, ": npy header field 'shape' has a bad dimension in '", sh, "'");
    r.shape.push_back(std::stoll(body.substr(p, q - p)));
    p = q;
    while (p < body.size() && body[p] == 'L') ++p;  // Python 2 longs
  }
  return r;
}

struct SrcType {
  DType out;
  int size;
  char kind;  // 'f', 'i', 'u', 'b'
};

SrcType source_type(const std::string& descr, bool& swap, const std::string& name) {
  if (descr.size() < 3) LESEG_FAIL(name, ": npy dtype '", descr, "' not supported (f4 f8 f2 i1 i2 i4 i8 u1 u2 u4 b1)");
  char order = descr[0];
  char kind = descr[1];
  std::string sz = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    LESEG_FAIL(name, ": npy dtype '", descr, "' has an unknown byte-order character");
  int size = (sz == "1" || sz == "2" || sz == "4" || sz == "8") ? std::stoi(sz) : 0;
  swap = order == '>' && size > 1;
  SrcType t{DType::f32, size, kind};
  if (kind == 'f' && size == 4) t.out = DType::f32;
  else if (kind == 'f' && size == 8) t.out = DType::f64;
  else if (kind == 'f' && size == 2) t.out = DType::f16;
  else if (kind == 'i' && size == 4) t.out = DType::i32;
  else if (kind == 'i' && size == 8) t.out = DType::i64;
  else if (kind == 'i' && (size == 1 || size == 2)) t.out = DType::i32;
  else if (kind == 'u' && size == 1) t.out = DType::u8;
  else if (kind == 'u' && size == 2) t.out = DType::i32;
  else if (kind == 'u' && size == 4) t.out = DType::i64;
  else if (kind == 'b' && size == 1) t.out = DType::b8;
  else LESEG_FAIL(name, ": npy dtype '", descr, "' not supported (f4 f8 f2 i1 i2 i4 i8 u1 u2 u4 b1)");
  return t;
}

template <class S, class D>
void convert(const uint8_t* src, D* dst, int64_t n, bool swap) {
  for (int64_t i = 0; i < n; ++i) {
    uint8_t b[sizeof(S)];
    std::memcpy(b, src + i * int64_t(sizeof(S)), sizeof(S));
    if (swap) std::reverse(b, b + sizeof(S));
    S v;
    std::memcpy(&v, b, sizeof(S));
    dst[i] = D(v);
  }
}

}  // namespace

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, magic, 6) != 0) LESEG_FAIL(name, ": not a .npy file (bad magic at offset 0)");
  int major = data[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = size_t(data[8]) | (size_t(data[9]) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) LESEG_FAIL(name, ": truncated .npy header (", size, " bytes)");
    hlen = size_t(data[8]) | (size_t(data[9]) << 8) | (size_t(data[10]) << 16) | (size_t(data[11]) << 24);
    hstart = 12;
  } else {
    LESEG_FAIL(name, ": unsupported .npy format version ", major, ".", int(data[7]), " at offset 6 (1, 2, 3 supported)");
  }
  if (hstart + hlen > size) LESEG_FAIL(name, ": truncated .npy header: needs ", hlen, " bytes at offset ", hstart, ", file has ", size);
  NpyHeader h = parse_header(std::string(reinterpret_cast<const char*>(data + hstart), hlen), name);
  if (h.fortran) LESEG_FAIL(name, ": fortran_order True is not supported (save C-contiguous arrays, e.g. np.ascontiguousarray)");
  if (h.shape.size() > 6) LESEG_FAIL(name, ": npy shape has ", h.shape.size(), " dimensions (at most 6)");
  bool swap = false;
  SrcType st = source_type(h.descr, swap, name);
  int64_t n = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && n > (int64_t(1) << 40) / d) LESEG_FAIL(name, ": npy shape too large");
    n *= d;
  }
  size_t off = hstart + hlen;
  size_t need = size_t(n) * size_t(st.size);
  if (size - off < need)
    LESEG_FAIL(name, ": truncated .npy data: shape needs ", need, " bytes at offset ", off, ", file has ", size - off);
  Tensor t = Tensor::empty(Shape(h.shape), st.out);
  const uint8_t* src = data + off;
  switch (st.kind) {
    case 'f':
      if (st.size == 4) convert<float>(src, t.data<float>(), n, swap);
      else if (st.size == 8) convert<double>(src, t.data<double>(), n, swap);
      else {
        uint16_t* d = static_cast<uint16_t*>(t.data_ptr());
        convert<uint16_t>(src, d, n, swap);
      }
      break;
    case 'i':
      if (st.size == 1) convert<int8_t>(src, t.data<int32_t>(), n, false);
      else if (st.size == 2) convert<int16_t>(src, t.data<int32_t>(), n, swap);
      else if (st.size == 4) convert<int32_t>(src, t.data<int32_t>(), n, swap);
      else convert<int64_t>(src, t.data<int64_t>(), n, swap);
      break;
    case 'u':
      if (st.size == 1) convert<uint8_t>(src, t.data<uint8_t>(), n, false);
      else if (st.size == 2) convert<uint16_t>(src, t.data<int32_t>(), n, swap);
      else convert<uint32_t>(src, t.data<int64_t>(), n, swap);
      break;
    case 'b': {
      bool* d = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) d[i] = src[i] != 0;
      break;
    }
  }
  return t;
}

Tensor read_npy(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  return parse_npy(b.data(), b.size(), path);
}

std::vector<uint8_t> encode_npy(const Tensor& t0) {
  LESEG_CHECK(t0.defined(), "encode_npy: undefined tensor");
  Tensor t = t0.device().is_cpu() ? t0 : t0.to(Device::cpu());
  const char* descr = nullptr;
  switch (t.dtype()) {
    case DType::f32: descr = "<f4"; break;
    case DType::f64: descr = "<f8"; break;
    case DType::f16: descr = "<f2"; break;
    case DType::i32: descr = "<i4"; break;
    case DType::i64: descr = "<i8"; break;
    case DType::u8: descr = "|u1"; break;
    case DType::b8: descr = "|b1"; break;
    case DType::bf16: LESEG_FAIL("encode_npy: bf16 has no NumPy dtype; cast to f32 first");
  }
  std::string shape = "(";
  for (int i = 0; i < t.ndim(); ++i) shape += std::to_string(t.size(i)) + (t.ndim() == 1 ? "," : i + 1 < t.ndim() ? ", " : "");
  shape += ")";
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + h.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  h += std::string(pad, ' ') + "\n";
  std::vector<uint8_t> out;
  out.reserve(10 + h.size() + t.nbytes());
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.insert(out.end(), magic, magic + 8);
  out.push_back(uint8_t(h.size() & 0xff));
  out.push_back(uint8_t(h.size() >> 8));
  out.insert(out.end(), h.begin(), h.end());
  const uint8_t* p = static_cast<const uint8_t*>(t.data_ptr());
  if (t.dtype() == DType::b8) {
    for (int64_t i = 0; i < t.numel(); ++i) out.push_back(p[i] ? 1 : 0);
  } else {
    out.insert(out.end(), p, p + t.nbytes());
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::vector<uint8_t> b = encode_npy(t);
  write_file_bytes(path, b.data(), b.size());
}

}  // namespace leseg::io
