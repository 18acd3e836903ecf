// SPDX-License-Identifier: Apache-2.0
#include "io/formats/pcd.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/error.h"
#include "io/formats/file_io.h"
#include "io/formats/lzf.h"

namespace leseg::io {

int PcdData::field_index(const std::string& name) const {
  for (size_t f = 0; f < fields.size(); ++f)
    if (fields[f].name == name) return int(f);
  return -1;
}

double PcdData::value(int f, int64_t i, int k) const {
  const PcdField& fd = fields[size_t(f)];
  const uint8_t* p = columns[size_t(f)].data() + (size_t(i) * size_t(fd.count) + size_t(k)) * size_t(fd.size);
  switch (fd.type) {
    case 'F':
      if (fd.size == 4) { float v; std::memcpy(&v, p, 4); return v; }
      { double v; std::memcpy(&v, p, 8); return v; }
    case 'I':
      if (fd.size == 1) { int8_t v; std::memcpy(&v, p, 1); return v; }
      if (fd.size == 2) { int16_t v; std::memcpy(&v, p, 2); return v; }
      if (fd.size == 4) { int32_t v; std::memcpy(&v, p, 4); return v; }
      { int64_t v; std::memcpy(&v, p, 8); return double(v); }
    default:
      if (fd.size == 1) return p[0];
      if (fd.size == 2) { uint16_t v; std::memcpy(&v, p, 2); return v; }
      if (fd.size == 4) { uint32_t v; std::memcpy(&v, p, 4); return v; }
      { uint64_t v; std::memcpy(&v, p, 8); return double(v); }
  }
}

uint32_t PcdData::bits32(int f, int64_t i) const {
  const PcdField& fd = fields[size_t(f)];
  LESEG_CHECK(fd.size == 4, "PCD field '", fd.name, "' has size ", fd.size, ", not a packed 32-bit value");
  uint32_t v;
  std::memcpy(&v, columns[size_t(f)].data() + size_t(i) * size_t(fd.count) * 4, 4);
  return v;
}

namespace {

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> r;
  std::string t;
  while (is >> t) r.push_back(t);
  return r;
}

int64_t to_int(const std::string& s, const std::string& where) {
  char* e = nullptr;
  long long v = std::strtoll(s.c_str(), &e, 10);
  if (s.empty() || *e != '\0') LESEG_FAIL(where, ": '", s, "' is not an integer");
  return v;
}

// Parse one ascii token of field type into raw bytes.
void store_ascii(const std::string& tok, const PcdField& f, uint8_t* dst, const std::string& where) {
  const char* s = tok.c_str();
  char* e = nullptr;
  if (f.type == 'F') {
    double v = std::strtod(s, &e);
    if (e == s || *e) LESEG_FAIL(where, ": '", tok, "' is not a number");
    if (f.size == 4) { float x = float(v); std::memcpy(dst, &x, 4); }
    else std::memcpy(dst, &v, 8);
    return;
  }
  if (f.type == 'I') {
    long long v = std::strtoll(s, &e, 10);
    if (e == s || *e) LESEG_FAIL(where, ": '", tok, "' is not an integer");
    int8_t a = int8_t(v); int16_t b = int16_t(v); int32_t c = int32_t(v); int64_t d = v;
    std::memcpy(dst, f.size == 1 ? (void*)&a : f.size == 2 ? (void*)&b : f.size == 4 ? (void*)&c : (void*)&d, size_t(f.size));
    return;
  }
  unsigned long long v = std::strtoull(s, &e, 10);
  if (e == s || *e) {
    // PCL writes packed rgb floats of type U as integers, but some tools write them as floats.
    double dv = std::strtod(s, &e);
    if (e == s || *e) LESEG_FAIL(where, ": '", tok, "' is not an unsigned integer");
    // Range-check before converting: a double outside [0, 2^64) (or NaN) has no unsigned value.
    if (!(dv >= 0.0 && dv < 18446744073709551616.0))
      LESEG_FAIL(where, ": '", tok, "' is out of range for an unsigned field");
    v = (unsigned long long)(dv);
  }
  uint8_t a = uint8_t(v); uint16_t b = uint16_t(v); uint32_t c = uint32_t(v); uint64_t d = v;
  std::memcpy(dst, f.size == 1 ? (void*)&a : f.size == 2 ? (void*)&b : f.size == 4 ? (void*)&c : (void*)&d, size_t(f.size));
}

uint32_t load_u32le(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

}  // namespace

PcdData parse_pcd(const uint8_t* data, size_t size, const std::string& name) {
  PcdData out;
  size_t pos = 0;
  int64_t line_no = 0;
  std::string line;
  auto next_line = [&]() {
    if (pos >= size) return false;
    const void* nl = std::memchr(data + pos, '\n', size - pos);
    size_t e = nl ? size_t(static_cast<const uint8_t*>(nl) - data) : size;
    line.assign(reinterpret_cast<const char*>(data + pos), e - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = nl ? e + 1 : size;
    ++line_no;
    return true;
  };
  std::vector<std::string> sizes, types, counts;
  bool have_fields = false, have_data = false, have_points = false, have_width = false;
  while (!have_data && next_line()) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> t = split_ws(line);
    if (t.empty()) continue;
    std::string where = detail::concat(name, ": PCD header line ", line_no, " '", line.substr(0, 80), "'");
    const std::string& kw = t[0];
    std::vector<std::string> args(t.begin() + 1, t.end());
    if (kw == "VERSION") {
      out.version = args.empty() ? "" : args[0];
    } else if (kw == "FIELDS" || kw == "COLUMNS") {
      if (args.empty()) LESEG_FAIL(where, ": no fields");
      out.fields.clear();
      for (auto& a : args) out.fields.push_back(PcdField{a, 4, 'F', 1});
      have_fields = true;
    } else if (kw == "SIZE") {
      sizes = args;
    } else if (kw == "TYPE") {
      types = args;
    } else if (kw == "COUNT") {
      counts = args;
    } else if (kw == "WIDTH") {
      if (args.size() != 1) LESEG_FAIL(where, ": expected one value");
      out.width = to_int(args[0], where);
      have_width = true;
    } else if (kw == "HEIGHT") {
      if (args.size() != 1) LESEG_FAIL(where, ": expected one value");
      out.height = to_int(args[0], where);
    } else if (kw == "VIEWPOINT") {
      if (args.size() != 7) LESEG_FAIL(where, ": expected 7 values (tx ty tz qw qx qy qz)");
      for (int i = 0; i < 7; ++i) out.viewpoint[size_t(i)] = std::strtod(args[size_t(i)].c_str(), nullptr);
    } else if (kw == "POINTS") {
      if (args.size() != 1) LESEG_FAIL(where, ": expected one value");
      out.points = to_int(args[0], where);
      have_points = true;
    } else if (kw == "DATA") {
      if (args.size() != 1) LESEG_FAIL(where, ": expected ascii, binary or binary_compressed");
      if (args[0] == "ascii") out.format = PcdDataFormat::ascii;
      else if (args[0] == "binary") out.format = PcdDataFormat::binary;
      else if (args[0] == "binary_compressed") out.format = PcdDataFormat::binary_compressed;
      else LESEG_FAIL(where, ": unknown DATA format '", args[0], "' (ascii, binary, binary_compressed)");
      have_data = true;
    } else {
      LESEG_FAIL(where, ": unknown header keyword '", kw, "'");
    }
  }
  if (!have_data) LESEG_FAIL(name, ": PCD header has no DATA line (not a PCD file or truncated header)");
  if (!have_fields) LESEG_FAIL(name, ": PCD header has no FIELDS line");
  const size_t nf = out.fields.size();
  if (sizes.size() != nf) LESEG_FAIL(name, ": PCD SIZE has ", sizes.size(), " entries for ", nf, " FIELDS");
  if (types.size() != nf) LESEG_FAIL(name, ": PCD TYPE has ", types.size(), " entries for ", nf, " FIELDS");
  if (!counts.empty() && counts.size() != nf) LESEG_FAIL(name, ": PCD COUNT has ", counts.size(), " entries for ", nf, " FIELDS");
  int64_t point_bytes = 0;
  for (size_t f = 0; f < nf; ++f) {
    PcdField& fd = out.fields[f];
    fd.size = int(to_int(sizes[f], name + ": PCD SIZE"));
    if (types[f].size() != 1) LESEG_FAIL(name, ": PCD TYPE '", types[f], "' of field '", fd.name, "' (I, U, F)");
    fd.type = types[f][0];
    fd.count = counts.empty() ? 1 : int(to_int(counts[f], name + ": PCD COUNT"));
    bool ok = (fd.type == 'F' && (fd.size == 4 || fd.size == 8)) ||
              ((fd.type == 'I' || fd.type == 'U') && (fd.size == 1 || fd.size == 2 || fd.size == 4 || fd.size == 8));
    if (!ok) LESEG_FAIL(name, ": PCD field '", fd.name, "' has unsupported TYPE ", fd.type, " SIZE ", fd.size);
    if (fd.count < 1 || fd.count > 1 << 20) LESEG_FAIL(name, ": PCD field '", fd.name, "' has COUNT ", fd.count);
    point_bytes += int64_t(fd.size) * fd.count;
  }
  if (!have_width) LESEG_FAIL(name, ": PCD header has no WIDTH");
  if (out.width < 0 || out.height < 1 || out.width > (int64_t(1) << 31) || out.height > (int64_t(1) << 31))
    LESEG_FAIL(name, ": PCD WIDTH ", out.width, " HEIGHT ", out.height, " invalid");
  if (point_bytes > (int64_t(1) << 24)) LESEG_FAIL(name, ": PCD point size ", point_bytes, " bytes is unreasonably large");
  if (!have_points) out.points = out.width * out.height;
  if (out.points < 0 || out.points > (int64_t(1) << 36) || out.points != out.width * out.height)
    LESEG_FAIL(name, ": PCD POINTS ", out.points, " != WIDTH*HEIGHT ", out.width, "*", out.height);
  const int64_t n = out.points;
  const size_t remaining = size - pos;
  // Allocation guard before sizing columns.
  if (out.format == PcdDataFormat::binary && uint64_t(n) * uint64_t(point_bytes) > remaining)
    LESEG_FAIL(name, ": truncated PCD binary data: ", n, " points x ", point_bytes, " bytes need ",
               uint64_t(n) * uint64_t(point_bytes), " bytes at offset ", pos, ", file has ", remaining);
  int64_t values_per_point = 0;
  for (auto& fd : out.fields) values_per_point += fd.count;
  if (out.format == PcdDataFormat::ascii && uint64_t(n) * uint64_t(values_per_point) > remaining + 1)
    LESEG_FAIL(name, ": truncated PCD ascii data: ", n, " points of ", values_per_point, " values but ", remaining, " bytes at offset ", pos);
  // LZF expands at most ~88x (a 3-byte back reference yields 264 bytes).
  if (out.format == PcdDataFormat::binary_compressed && uint64_t(n) * uint64_t(point_bytes) > (uint64_t(remaining) + 16) * 96)
    LESEG_FAIL(name, ": PCD binary_compressed: ", n, " points cannot come from ", remaining, " compressed bytes");
  out.columns.resize(nf);
  for (size_t f = 0; f < nf; ++f) out.columns[f].resize(size_t(n) * size_t(out.fields[f].count) * size_t(out.fields[f].size));

  if (out.format == PcdDataFormat::binary) {
    const uint8_t* p = data + pos;
    for (int64_t i = 0; i < n; ++i)
      for (size_t f = 0; f < nf; ++f) {
        size_t b = size_t(out.fields[f].size) * size_t(out.fields[f].count);
        std::memcpy(out.columns[f].data() + size_t(i) * b, p, b);
        p += b;
      }
  } else if (out.format == PcdDataFormat::binary_compressed) {
    if (remaining < 8) LESEG_FAIL(name, ": truncated PCD binary_compressed header at offset ", pos, " (needs 8 bytes)");
    uint32_t csize = load_u32le(data + pos), usize = load_u32le(data + pos + 4);
    if (uint64_t(usize) != uint64_t(n) * uint64_t(point_bytes))
      LESEG_FAIL(name, ": PCD binary_compressed uncompressed size ", usize, " at offset ", pos + 4, " != POINTS*point size ",
                 uint64_t(n) * uint64_t(point_bytes));
    if (csize > remaining - 8)
      LESEG_FAIL(name, ": truncated PCD binary_compressed data: ", csize, " compressed bytes declared at offset ", pos,
                 ", ", remaining - 8, " present");
    std::vector<uint8_t> soa = usize ? lzf_decompress(data + pos + 8, csize, usize, name) : std::vector<uint8_t>();
    size_t off = 0;
    for (size_t f = 0; f < nf && usize > 0; ++f) {  // an empty cloud has no payload (and null data pointers)
      std::memcpy(out.columns[f].data(), soa.data() + off, out.columns[f].size());
      off += out.columns[f].size();
    }
  } else {
    const char* p = reinterpret_cast<const char*>(data + pos);
    const char* end = reinterpret_cast<const char*>(data + size);
    int64_t line = line_no + 1;
    std::string tok;
    auto next_tok = [&]() {
      while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) { if (*p == '\n') ++line; ++p; }
      if (p >= end) return false;
      const char* s = p;
      while (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
      tok.assign(s, size_t(p - s));
      return true;
    };
    for (int64_t i = 0; i < n; ++i)
      for (size_t f = 0; f < nf; ++f) {
        const PcdField& fd = out.fields[f];
        for (int k = 0; k < fd.count; ++k) {
          std::string where = detail::concat(name, ": PCD ascii line ", line, " (point ", i, " field '", fd.name, "')");
          if (!next_tok()) LESEG_FAIL(where, ": unexpected end of file (truncated or POINTS too large)");
          store_ascii(tok, fd, out.columns[f].data() + (size_t(i) * size_t(fd.count) + size_t(k)) * size_t(fd.size), where);
        }
      }
  }
  return out;
}

PcdData read_pcd(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  return parse_pcd(b.data(), b.size(), path);
}

std::vector<uint8_t> encode_pcd(const PcdData& pcd, PcdDataFormat format) {
  const size_t nf = pcd.fields.size();
  LESEG_CHECK(pcd.columns.size() == nf, "write_pcd: ", pcd.columns.size(), " columns for ", nf, " fields");
  LESEG_CHECK(pcd.points == pcd.width * pcd.height, "write_pcd: POINTS ", pcd.points, " != WIDTH*HEIGHT");
  for (size_t f = 0; f < nf; ++f)
    LESEG_CHECK(pcd.columns[f].size() == size_t(pcd.points) * size_t(pcd.fields[f].count) * size_t(pcd.fields[f].size),
                "write_pcd: column '", pcd.fields[f].name, "' has ", pcd.columns[f].size(), " bytes");
  std::ostringstream h;
  h << "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS";
  for (auto& f : pcd.fields) h << ' ' << f.name;
  h << "\nSIZE";
  for (auto& f : pcd.fields) h << ' ' << f.size;
  h << "\nTYPE";
  for (auto& f : pcd.fields) h << ' ' << f.type;
  h << "\nCOUNT";
  for (auto& f : pcd.fields) h << ' ' << f.count;
  h << "\nWIDTH " << pcd.width << "\nHEIGHT " << pcd.height << "\nVIEWPOINT";
  for (double v : pcd.viewpoint) h << ' ' << v;
  h << "\nPOINTS " << pcd.points << "\nDATA "
    << (format == PcdDataFormat::ascii ? "ascii" : format == PcdDataFormat::binary ? "binary" : "binary_compressed") << "\n";
  std::string hs = h.str();
  std::vector<uint8_t> out(hs.begin(), hs.end());
  if (format == PcdDataFormat::ascii) {
    std::string body;
    char buf[64];
    for (int64_t i = 0; i < pcd.points; ++i) {
      for (size_t f = 0; f < nf; ++f) {
        const PcdField& fd = pcd.fields[f];
        for (int k = 0; k < fd.count; ++k) {
          double v = pcd.value(int(f), i, k);
          if (fd.type == 'F') std::snprintf(buf, sizeof buf, fd.size == 4 ? "%.9g" : "%.17g", v);
          else if (fd.type == 'I') std::snprintf(buf, sizeof buf, "%lld", (long long)v);
          else if (fd.size == 8) {
            uint64_t u;
            std::memcpy(&u, pcd.columns[f].data() + (size_t(i) * size_t(fd.count) + size_t(k)) * 8, 8);
            std::snprintf(buf, sizeof buf, "%llu", (unsigned long long)u);
          } else std::snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
          if (!body.empty() && body.back() != '\n') body += ' ';
          body += buf;
        }
      }
      body += '\n';
    }
    out.insert(out.end(), body.begin(), body.end());
  } else if (format == PcdDataFormat::binary) {
    for (int64_t i = 0; i < pcd.points; ++i)
      for (size_t f = 0; f < nf; ++f) {
        size_t b = size_t(pcd.fields[f].size) * size_t(pcd.fields[f].count);
        const uint8_t* p = pcd.columns[f].data() + size_t(i) * b;
        out.insert(out.end(), p, p + b);
      }
  } else {
    std::vector<uint8_t> soa;
    for (auto& c : pcd.columns) soa.insert(soa.end(), c.begin(), c.end());
    std::vector<uint8_t> z = lzf_compress(soa.data(), soa.size());
    uint32_t cs = uint32_t(z.size()), us = uint32_t(soa.size());
    for (int s = 0; s < 4; ++s) out.push_back(uint8_t(cs >> (8 * s)));
    for (int s = 0; s < 4; ++s) out.push_back(uint8_t(us >> (8 * s)));
    out.insert(out.end(), z.begin(), z.end());
  }
  return out;
}

void write_pcd(const std::string& path, const PcdData& pcd, PcdDataFormat format) {
  std::vector<uint8_t> b = encode_pcd(pcd, format);
  write_file_bytes(path, b.data(), b.size());
}

}  // namespace leseg::io
