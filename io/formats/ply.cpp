// SPDX-License-Identifier: Apache-2.0
// PLY parser: header lines ("ply", "format", "comment"/"obj_info", "element", "property", "end_header"),
// then the body element by element. Bounds are checked before every read; element counts are checked
// against the remaining bytes before anything is allocated.
#include "io/formats/ply.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/error.h"
#include "io/formats/file_io.h"

namespace leseg::io {

int ply_type_size(PlyType t) {
  switch (t) {
    case PlyType::i8: case PlyType::u8: return 1;
    case PlyType::i16: case PlyType::u16: return 2;
    case PlyType::i32: case PlyType::u32: case PlyType::f32: return 4;
    case PlyType::f64: return 8;
  }
  return 0;
}

const char* ply_type_name(PlyType t) {
  switch (t) {
    case PlyType::i8: return "char"; case PlyType::u8: return "uchar";
    case PlyType::i16: return "short"; case PlyType::u16: return "ushort";
    case PlyType::i32: return "int"; case PlyType::u32: return "uint";
    case PlyType::f32: return "float"; case PlyType::f64: return "double";
  }
  return "?";
}

const std::vector<double>& PlyData::get(const std::string& prop) const {
  auto it = vertex.find(prop);
  if (it == vertex.end()) {
    std::string have;
    for (auto& kv : vertex) have += (have.empty() ? "" : " ") + kv.first;
    LESEG_FAIL("PLY: vertex property '", prop, "' not present (have: ", have, ")");
  }
  return it->second;
}

namespace {

bool parse_type(const std::string& s, PlyType& t) {
  static const std::pair<const char*, PlyType> names[] = {
      {"char", PlyType::i8},    {"int8", PlyType::i8},     {"uchar", PlyType::u8},   {"uint8", PlyType::u8},
      {"short", PlyType::i16},  {"int16", PlyType::i16},   {"ushort", PlyType::u16}, {"uint16", PlyType::u16},
      {"int", PlyType::i32},    {"int32", PlyType::i32},   {"uint", PlyType::u32},   {"uint32", PlyType::u32},
      {"float", PlyType::f32},  {"float32", PlyType::f32}, {"double", PlyType::f64}, {"float64", PlyType::f64}};
  for (auto& [n, v] : names)
    if (s == n) { t = v; return true; }
  return false;
}

double load_binary(const uint8_t* p, PlyType t, bool swap) {
  uint8_t b[8];
  int n = ply_type_size(t);
  std::memcpy(b, p, size_t(n));
  if (swap) std::reverse(b, b + n);
  switch (t) {
    case PlyType::i8: { int8_t v; std::memcpy(&v, b, 1); return v; }
    case PlyType::u8: return b[0];
    case PlyType::i16: { int16_t v; std::memcpy(&v, b, 2); return v; }
    case PlyType::u16: { uint16_t v; std::memcpy(&v, b, 2); return v; }
    case PlyType::i32: { int32_t v; std::memcpy(&v, b, 4); return v; }
    case PlyType::u32: { uint32_t v; std::memcpy(&v, b, 4); return v; }
    case PlyType::f32: { float v; std::memcpy(&v, b, 4); return v; }
    case PlyType::f64: { double v; std::memcpy(&v, b, 8); return v; }
  }
  return 0;
}

bool host_little_endian() {
  uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}

// Whitespace tokenizer over the ascii body that remembers line numbers.
struct AsciiCursor {
  const char* p;
  const char* end;
  int64_t line;
  bool next(std::string& tok) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
      if (*p == '\n') ++line;
      ++p;
    }
    if (p >= end) return false;
    const char* s = p;
    while (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
    tok.assign(s, size_t(p - s));
    return true;
  }
};

double parse_number(const std::string& tok, PlyType t, const std::string& where) {
  const char* s = tok.c_str();
  char* e = nullptr;
  double v;
  if (t == PlyType::f32 || t == PlyType::f64) {
    v = std::strtod(s, &e);
    if (t == PlyType::f32) v = double(float(v));  // same value as a binary file would give
  } else {
    long long iv = std::strtoll(s, &e, 10);
    v = double(iv);
  }
  if (e == s || *e != '\0') LESEG_FAIL(where, ": '", tok, "' is not a valid ", ply_type_name(t));
  return v;
}

}  // namespace

PlyData parse_ply(const uint8_t* data, size_t size, const std::string& name) {
  PlyData out;
  // ---- header ----
  size_t pos = 0;
  int64_t line_no = 0;
  bool have_format = false, ended = false;
  auto next_line = [&](std::string& line) {
    if (pos >= size) return false;
    const void* nl = std::memchr(data + pos, '\n', size - pos);
    size_t e = nl ? size_t(static_cast<const uint8_t*>(nl) - data) : size;
    line.assign(reinterpret_cast<const char*>(data + pos), e - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = nl ? e + 1 : size;
    ++line_no;
    return true;
  };
  std::string line;
  if (!next_line(line) || line != "ply") LESEG_FAIL(name, ": not a PLY file (line 1 must be 'ply')");
  while (next_line(line)) {
    std::istringstream is(line);
    std::string kw;
    is >> kw;
    auto bad = [&](const std::string& why) { LESEG_FAIL(name, ": PLY header line ", line_no, " '", line, "': ", why); };
    if (kw.empty()) continue;
    if (kw == "format") {
      std::string f, ver;
      is >> f >> ver;
      if (f == "ascii") out.format = PlyFormat::ascii;
      else if (f == "binary_little_endian") out.format = PlyFormat::binary_little_endian;
      else if (f == "binary_big_endian") out.format = PlyFormat::binary_big_endian;
      else bad("unknown format (ascii, binary_little_endian, binary_big_endian)");
      if (ver != "1.0") bad("unsupported version (1.0)");
      have_format = true;
    } else if (kw == "comment" || kw == "obj_info") {
      out.comments.push_back(line.size() > kw.size() + 1 ? line.substr(kw.size() + 1) : "");
    } else if (kw == "element") {
      PlyElement e;
      std::string cnt;
      is >> e.name >> cnt;
      if (e.name.empty() || cnt.empty()) bad("expected 'element <name> <count>'");
      char* end = nullptr;
      long long c = std::strtoll(cnt.c_str(), &end, 10);
      if (*end != '\0' || c < 0) bad("element count is not a non-negative integer");
      e.count = c;
      for (auto& prev : out.elements)
        if (prev.name == e.name) bad("duplicate element '" + e.name + "'");
      out.elements.push_back(e);
    } else if (kw == "property") {
      if (out.elements.empty()) bad("property before any element");
      PlyProperty p;
      std::string t;
      is >> t;
      if (t == "list") {
        std::string ct, it;
        is >> ct >> it >> p.name;
        if (!parse_type(ct, p.count_type) || !parse_type(it, p.type)) bad("unknown list type");
        if (p.count_type == PlyType::f32 || p.count_type == PlyType::f64) bad("list count type must be integral");
        p.is_list = true;
      } else {
        if (!parse_type(t, p.type)) bad("unknown property type '" + t + "'");
        is >> p.name;
      }
      if (p.name.empty()) bad("property without a name");
      for (auto& prev : out.elements.back().properties)
        if (prev.name == p.name) bad("duplicate property '" + p.name + "'");
      out.elements.back().properties.push_back(p);
    } else if (kw == "end_header") {
      ended = true;
      break;
    } else {
      bad("unknown keyword '" + kw + "'");
    }
  }
  if (!ended) LESEG_FAIL(name, ": PLY header has no 'end_header' (truncated header?)");
  if (!have_format) LESEG_FAIL(name, ": PLY header has no 'format' line");

  // ---- body ----
  const bool binary = out.format != PlyFormat::ascii;
  const bool swap = binary && ((out.format == PlyFormat::binary_big_endian) == host_little_endian());
  AsciiCursor cur{reinterpret_cast<const char*>(data + pos), reinterpret_cast<const char*>(data + size), line_no + 1};
  std::string tok;
  for (const PlyElement& el : out.elements) {
    const bool is_vertex = el.name == "vertex";
    if (el.properties.empty()) {
      // Rows without properties carry no bytes: nothing to read (and a huge count must not spin here).
      LESEG_CHECK(!is_vertex || el.count == 0, name, ": PLY element 'vertex' declares ", el.count, " rows but no properties");
      continue;
    }
    int64_t min_row = 0;
    for (auto& p : el.properties) min_row += p.is_list ? ply_type_size(p.count_type) : ply_type_size(p.type);
    // Allocation guard: every row takes at least min_row bytes (binary) or 2 bytes per property (ascii).
    int64_t remaining = binary ? int64_t(size - pos) : int64_t(cur.end - cur.p);
    int64_t per_row = binary ? min_row : 2 * int64_t(el.properties.size());
    if (per_row > 0 && el.count > (binary ? remaining : remaining + 1) / per_row)
      LESEG_FAIL(name, ": PLY element '", el.name, "' declares ", el.count, " rows but only ", remaining,
                 " bytes remain after offset ", binary ? pos : size_t(cur.p - reinterpret_cast<const char*>(data)), " (truncated file or wrong count)");
    std::vector<std::vector<double>*> cols(el.properties.size(), nullptr);
    if (is_vertex) {
      out.num_vertices = el.count;
      for (size_t k = 0; k < el.properties.size(); ++k) {
        if (el.properties[k].is_list) continue;
        auto& v = out.vertex[el.properties[k].name];
        out.vertex_types[el.properties[k].name] = el.properties[k].type;
        v.assign(size_t(el.count), 0.0);
        cols[k] = &v;
      }
    }
    for (int64_t r = 0; r < el.count; ++r) {
      for (size_t k = 0; k < el.properties.size(); ++k) {
        const PlyProperty& p = el.properties[k];
        if (binary) {
          auto need = [&](int64_t n) {
            if (int64_t(size - pos) < n)
              LESEG_FAIL(name, ": truncated PLY body: element '", el.name, "' row ", r, " property '", p.name,
                         "' needs ", n, " bytes at offset ", pos, ", file has ", size);
          };
          if (p.is_list) {
            int cs = ply_type_size(p.count_type);
            need(cs);
            double c = load_binary(data + pos, p.count_type, swap);
            pos += size_t(cs);
            // A count must be a non-negative integer no larger than the file (each item takes >= 1 byte);
            // checked before the integer conversion (a float count type can hold 1e38).
            if (!(c >= 0) || c != std::floor(c))
              LESEG_FAIL(name, ": PLY element '", el.name, "' row ", r, " list '", p.name, "' has invalid count ", c,
                         " at offset ", pos - cs);
            if (c > double(size))
              LESEG_FAIL(name, ": truncated PLY body: element '", el.name, "' row ", r, " list '", p.name, "' count ", c,
                         " at offset ", pos - cs, " exceeds the file size ", size);
            int64_t bytes = int64_t(c) * ply_type_size(p.type);
            need(bytes);
            pos += size_t(bytes);
          } else {
            int s = ply_type_size(p.type);
            need(s);
            double v = load_binary(data + pos, p.type, swap);
            pos += size_t(s);
            if (cols[k]) (*cols[k])[size_t(r)] = v;
          }
        } else {
          auto where = [&]() {
            return detail::concat(name, ": PLY ascii line ", cur.line, " (element '", el.name, "' row ", r, " property '", p.name, "')");
          };
          if (!cur.next(tok)) LESEG_FAIL(where(), ": unexpected end of file (truncated or wrong count)");
          if (p.is_list) {
            double c = parse_number(tok, p.count_type, where());
            if (!(c >= 0) || c != std::floor(c) || c > double(size))
              LESEG_FAIL(where(), ": list count ", c, " is not a non-negative integer within the file size");
            for (int64_t i = 0; i < int64_t(c); ++i) {
              if (!cur.next(tok)) LESEG_FAIL(where(), ": unexpected end of file inside a list");
              parse_number(tok, p.type, where());
            }
          } else {
            double v = parse_number(tok, p.type, where());
            if (cols[k]) (*cols[k])[size_t(r)] = v;
          }
        }
      }
    }
  }
  return out;
}

PlyData read_ply(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  return parse_ply(b.data(), b.size(), path);
}

namespace {

template <class T>
void put(std::vector<uint8_t>& out, double v) {
  T x = T(v);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&x);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace

std::vector<uint8_t> encode_ply(const std::vector<PlyColumn>& columns, PlyFormat format) {
  LESEG_CHECK(format != PlyFormat::binary_big_endian, "write_ply: binary_big_endian output is not supported (ascii, binary_little_endian)");
  LESEG_CHECK(host_little_endian(), "write_ply: big-endian host not supported");
  size_t n = columns.empty() ? 0 : columns[0].values.size();
  for (auto& c : columns)
    LESEG_CHECK(c.values.size() == n, "write_ply: column '", c.name, "' has ", c.values.size(), " values, expected ", n);
  std::ostringstream h;
  h << "ply\nformat " << (format == PlyFormat::ascii ? "ascii" : "binary_little_endian") << " 1.0\n";
  h << "comment written by leseg\nelement vertex " << n << "\n";
  for (auto& c : columns) h << "property " << ply_type_name(c.type) << " " << c.name << "\n";
  h << "end_header\n";
  std::string hs = h.str();
  std::vector<uint8_t> out(hs.begin(), hs.end());
  if (format == PlyFormat::ascii) {
    std::string body;
    char buf[64];
    for (size_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < columns.size(); ++k) {
        double v = columns[k].values[i];
        PlyType t = columns[k].type;
        if (t == PlyType::f32) std::snprintf(buf, sizeof buf, "%.9g", double(float(v)));
        else if (t == PlyType::f64) std::snprintf(buf, sizeof buf, "%.17g", v);
        else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        body += buf;
        body += k + 1 < columns.size() ? ' ' : '\n';
      }
    }
    out.insert(out.end(), body.begin(), body.end());
  } else {
    size_t row = 0;
    for (auto& c : columns) row += size_t(ply_type_size(c.type));
    out.reserve(out.size() + row * n);
    for (size_t i = 0; i < n; ++i) {
      for (auto& c : columns) {
        double v = c.values[i];
        switch (c.type) {
          case PlyType::i8: put<int8_t>(out, v); break;
          case PlyType::u8: put<uint8_t>(out, v); break;
          case PlyType::i16: put<int16_t>(out, v); break;
          case PlyType::u16: put<uint16_t>(out, v); break;
          case PlyType::i32: put<int32_t>(out, v); break;
          case PlyType::u32: put<uint32_t>(out, v); break;
          case PlyType::f32: put<float>(out, v); break;
          case PlyType::f64: put<double>(out, v); break;
        }
      }
    }
  }
  return out;
}

void write_ply(const std::string& path, const std::vector<PlyColumn>& columns, PlyFormat format) {
  std::vector<uint8_t> b = encode_ply(columns, format);
  write_file_bytes(path, b.data(), b.size());
}

}  // namespace leseg::io
