// SPDX-License-Identifier: Apache-2.0
// .npy header and layout parsing (no tensors): magic "\x93NUMPY", version byte pair, header length (u16 for v1,
// u32 for v2/v3), a Python dict literal {'descr': .., 'fortran_order': .., 'shape': (..), } padded with spaces
// and '\n'. Depends only on engine/error.h, so the libFuzzer target builds it alone (scripts/fuzz.sh).
#include "io/formats/npy_header.h"

#include <cstring>

#include "engine/error.h"

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

}  // namespace

NpyLayout parse_npy_layout(const uint8_t* data, size_t size, const std::string& name) {
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
  if (hlen > size - hstart) LESEG_FAIL(name, ": truncated .npy header: needs ", hlen, " bytes at offset ", hstart, ", file has ", size);
  NpyHeader h = parse_header(std::string(reinterpret_cast<const char*>(data + hstart), hlen), name);
  if (h.fortran) LESEG_FAIL(name, ": fortran_order True is not supported (save C-contiguous arrays, e.g. np.ascontiguousarray)");
  if (h.shape.size() > 6) LESEG_FAIL(name, ": npy shape has ", h.shape.size(), " dimensions (at most 6)");
  NpyLayout l;
  l.descr = h.descr;
  l.shape = h.shape;
  const std::string& descr = h.descr;
  if (descr.size() < 3) LESEG_FAIL(name, ": npy dtype '", descr, "' not supported (f4 f8 f2 i1 i2 i4 i8 u1 u2 u4 b1)");
  const char order = descr[0];
  l.kind = descr[1];
  const std::string sz = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    LESEG_FAIL(name, ": npy dtype '", descr, "' has an unknown byte-order character");
  l.item_size = (sz == "1" || sz == "2" || sz == "4" || sz == "8") ? sz[0] - '0' : 0;
  l.swap = order == '>' && l.item_size > 1;
  const char k = l.kind;
  const int s = l.item_size;
  const bool ok = (k == 'f' && (s == 2 || s == 4 || s == 8)) || (k == 'i' && s > 0) || (k == 'u' && s > 0 && s < 8) ||
                  (k == 'b' && s == 1);
  if (!ok) LESEG_FAIL(name, ": npy dtype '", descr, "' not supported (f4 f8 f2 i1 i2 i4 i8 u1 u2 u4 b1)");
  int64_t n = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && n > (int64_t(1) << 40) / d) LESEG_FAIL(name, ": npy shape too large");
    n *= d;
  }
  l.count = n;
  l.data_offset = hstart + hlen;
  const size_t need = size_t(n) * size_t(s);
  if (size - l.data_offset < need)
    LESEG_FAIL(name, ": truncated .npy data: shape needs ", need, " bytes at offset ", l.data_offset, ", file has ",
               size - l.data_offset);
  return l;
}

}  // namespace leseg::io
