// SPDX-License-Identifier: Apache-2.0
// .npy parser/writer: magic "\x93NUMPY", version byte pair, header length (u16 for v1, u32 for v2/v3),
// a Python dict literal {'descr': .., 'fortran_order': .., 'shape': (..), } padded with spaces and '\n'.
#include "io/formats/npy.h"

#include "io/formats/npy_header.h"

#include <algorithm>
#include <cstring>

namespace leseg::io {

namespace {

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
  const NpyLayout l = parse_npy_layout(data, size, name);
  struct {
    DType out;
    int size;
    char kind;
  } st{DType::f32, l.item_size, l.kind};
  const bool swap = l.swap;
  const int64_t n = l.count;
  const size_t off = l.data_offset;
  if (l.kind == 'f') st.out = l.item_size == 4 ? DType::f32 : l.item_size == 8 ? DType::f64 : DType::f16;
  else if (l.kind == 'i') st.out = l.item_size == 8 ? DType::i64 : DType::i32;
  else if (l.kind == 'u') st.out = l.item_size == 1 ? DType::u8 : l.item_size == 2 ? DType::i32 : DType::i64;
  else st.out = DType::b8;
  Tensor t = Tensor::empty(Shape(l.shape), st.out);
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
