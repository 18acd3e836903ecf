// SPDX-License-Identifier: Apache-2.0
#include "io/formats/lzf.h"

#include <cstring>

#include "engine/error.h"

namespace leseg::io {

std::vector<uint8_t> lzf_decompress(const uint8_t* in, size_t in_size, size_t out_size, const std::string& what) {
  std::vector<uint8_t> out(out_size);
  size_t ip = 0, op = 0;
  while (ip < in_size) {
    size_t ctrl = in[ip++];
    if (ctrl < 32) {
      size_t len = ctrl + 1;
      if (ip + len > in_size) LESEG_FAIL(what, ": LZF literal run of ", len, " bytes at compressed offset ", ip - 1, " runs past the input (", in_size, " bytes)");
      if (op + len > out_size) LESEG_FAIL(what, ": LZF output overflow at compressed offset ", ip - 1, " (declared uncompressed size ", out_size, ")");
      std::memcpy(out.data() + op, in + ip, len);
      ip += len;
      op += len;
    } else {
      size_t len = ctrl >> 5;
      size_t start = ip - 1;
      if (len == 7) {
        if (ip >= in_size) LESEG_FAIL(what, ": LZF truncated back reference at compressed offset ", start);
        len += in[ip++];
      }
      if (ip >= in_size) LESEG_FAIL(what, ": LZF truncated back reference at compressed offset ", start);
      size_t back = ((ctrl & 0x1f) << 8) + in[ip++] + 1;
      len += 2;
      if (back > op) LESEG_FAIL(what, ": LZF back reference before the start of the output at compressed offset ", start);
      if (op + len > out_size) LESEG_FAIL(what, ": LZF output overflow at compressed offset ", start, " (declared uncompressed size ", out_size, ")");
      for (size_t i = 0; i < len; ++i, ++op) out[op] = out[op - back];
    }
  }
  if (op != out_size) LESEG_FAIL(what, ": LZF data decompressed to ", op, " bytes, header declares ", out_size);
  return out;
}

std::vector<uint8_t> lzf_compress(const uint8_t* in, size_t n) {
  constexpr size_t kMaxOff = 1 << 13, kMaxRef = 7 + 255 + 2;  // distance <= 8192, length <= 264
  constexpr int kHashBits = 14;
  std::vector<uint8_t> out;
  out.reserve(n + n / 32 + 16);
  std::vector<int64_t> table(size_t(1) << kHashBits, -1);
  auto hash = [&](size_t i) {
    uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8 | in[i + 2];
    return (v * 2654435761u) >> (32 - kHashBits);
  };
  std::vector<uint8_t> lit;
  auto flush = [&]() {
    size_t k = 0;
    while (k < lit.size()) {
      size_t run = std::min<size_t>(32, lit.size() - k);
      out.push_back(uint8_t(run - 1));
      out.insert(out.end(), lit.begin() + long(k), lit.begin() + long(k + run));
      k += run;
    }
    lit.clear();
  };
  size_t ip = 0;
  while (ip < n) {
    if (ip + 2 < n) {
      uint32_t h = hash(ip);
      int64_t ref = table[h];
      table[h] = int64_t(ip);
      if (ref >= 0 && ip - size_t(ref) <= kMaxOff && in[ref] == in[ip] && in[ref + 1] == in[ip + 1] && in[ref + 2] == in[ip + 2]) {
        size_t len = 3;
        size_t maxlen = std::min(kMaxRef, n - ip);
        while (len < maxlen && in[size_t(ref) + len] == in[ip + len]) ++len;
        flush();
        size_t off = ip - size_t(ref) - 1;
        size_t l = len - 2;
        if (l < 7) {
          out.push_back(uint8_t((off >> 8) + (l << 5)));
        } else {
          out.push_back(uint8_t((off >> 8) + (7 << 5)));
          out.push_back(uint8_t(l - 7));
        }
        out.push_back(uint8_t(off & 0xff));
        for (size_t k = 1; k < len && ip + k + 2 < n; ++k) table[hash(ip + k)] = int64_t(ip + k);
        ip += len;
        continue;
      }
    }
    lit.push_back(in[ip++]);
  }
  flush();
  return out;
}

}  // namespace leseg::io
