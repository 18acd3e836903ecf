// SPDX-License-Identifier: Apache-2.0
// The one translation unit that instantiates stb_image and stb_image_write.
#include "io/formats/image.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/formats/file_io.h"

namespace {
constexpr int kLesegPngZlibLevel = 1;
// PNG's deflate streams come from zlib (Debian's zlib1g) instead of stb's own deflate: same format, faster and
// 7 % smaller on the synthetic rooms (PNG writing was 12 % of a room's generation with stb's, now under 2 %). `quality`
// (stb's compression level) is ignored: zlib's fast level 1 (the images are written once per dataset and
// mostly flat colour). Returns malloc'ed memory (stb frees it with STBIW_FREE = free) or nullptr.
unsigned char* leseg_zlib_compress(unsigned char* data, int data_len, int* out_len, int /*quality*/) {
  uLongf cap = compressBound(uLong(data_len));
  auto* out = static_cast<unsigned char*>(std::malloc(cap));
  if (!out) return nullptr;
  if (compress2(out, &cap, data, uLong(data_len), kLesegPngZlibLevel) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_len = int(cap);
  return out;
}
}  // namespace
#define STBIW_ZLIB_COMPRESS leseg_zlib_compress

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace leseg::io {

namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

std::vector<uint8_t> load(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  if (b.size() > size_t(INT32_MAX)) LESEG_FAIL(path, ": image file too large");
  return b;
}

}  // namespace

std::pair<int, int> image_size(const std::string& path) {
  std::vector<uint8_t> b = load(path);
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(b.data(), int(b.size()), &w, &h, &c))
    LESEG_FAIL(path, ": cannot read image header: ", stbi_failure_reason());
  return {h, w};
}

Tensor read_image_rgb(const std::string& path) {
  std::vector<uint8_t> b = load(path);
  int w = 0, h = 0, c = 0;
  std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(b.data(), int(b.size()), &w, &h, &c, 3));
  if (!px) LESEG_FAIL(path, ": cannot decode image (PNG/JPEG expected): ", stbi_failure_reason());
  Tensor t = Tensor::empty(Shape{h, w, 3}, DType::u8);
  std::memcpy(t.data_ptr(), px.get(), size_t(h) * size_t(w) * 3);
  return t;
}

Tensor read_image_u16(const std::string& path) {
  std::vector<uint8_t> b = load(path);
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(b.data(), int(b.size()), &w, &h, &c))
    LESEG_FAIL(path, ": cannot read image header: ", stbi_failure_reason());
  if (c != 1) LESEG_FAIL(path, ": expected a single-channel (grey) PNG for 16-bit values, file has ", c, " channels");
  Tensor t = Tensor::empty(Shape{h, w}, DType::i32);
  int32_t* d = t.data<int32_t>();
  const size_t n = size_t(h) * size_t(w);
  if (stbi_is_16_bit_from_memory(b.data(), int(b.size()))) {
    std::unique_ptr<uint16_t, StbFree> px(stbi_load_16_from_memory(b.data(), int(b.size()), &w, &h, &c, 1));
    if (!px) LESEG_FAIL(path, ": cannot decode 16-bit PNG: ", stbi_failure_reason());
    for (size_t i = 0; i < n; ++i) d[i] = px.get()[i];
  } else {
    std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(b.data(), int(b.size()), &w, &h, &c, 1));
    if (!px) LESEG_FAIL(path, ": cannot decode image: ", stbi_failure_reason());
    for (size_t i = 0; i < n; ++i) d[i] = px.get()[i];
  }
  return t;
}

Tensor decode_image_rgb(const uint8_t* data, size_t size, const std::string& what) {
  if (size == 0 || size > size_t(INT32_MAX)) LESEG_FAIL(what, ": image of ", size, " bytes");
  int w = 0, h = 0, c = 0;
  std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(data, int(size), &w, &h, &c, 3));
  if (!px) LESEG_FAIL(what, ": cannot decode image (PNG/JPEG expected): ", stbi_failure_reason());
  Tensor t = Tensor::empty(Shape{h, w, 3}, DType::u8);
  std::memcpy(t.data_ptr(), px.get(), size_t(h) * size_t(w) * 3);
  return t;
}

std::vector<uint8_t> encode_jpeg(const Tensor& image0, int quality) {
  LESEG_CHECK(image0.defined() && image0.dtype() == DType::u8 && image0.ndim() == 3 && image0.size(2) == 3,
              "encode_jpeg: expected (H, W, 3) u8, got ", image0.defined() ? image0.shape().str() : "undefined");
  Tensor image = image0.device().is_cpu() ? image0 : image0.to(Device::cpu());
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = static_cast<std::vector<uint8_t>*>(ctx);
    o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_jpg_to_func(sink, &out, int(image.size(1)), int(image.size(0)), 3, image.data_ptr(), quality))
    LESEG_FAIL("encode_jpeg: stb_image_write failed");
  return out;
}

void write_png_rgb(const std::string& path, const Tensor& image0) {
  LESEG_CHECK(image0.defined(), "write_png_rgb(", path, "): undefined tensor");
  Tensor image = image0.device().is_cpu() ? image0 : image0.to(Device::cpu());
  LESEG_CHECK(image.dtype() == DType::u8, "write_png_rgb(", path, "): dtype ", dtype_name(image.dtype()), ", expected u8");
  LESEG_CHECK(image.ndim() == 2 || (image.ndim() == 3 && image.size(2) == 3), "write_png_rgb(", path, "): shape ",
              image.shape().str(), ", expected (H, W, 3) or (H, W)");
  int h = int(image.size(0)), w = int(image.size(1)), c = image.ndim() == 3 ? 3 : 1;
  LESEG_CHECK(h > 0 && w > 0, "write_png_rgb(", path, "): empty image ", image.shape().str());
  if (!stbi_write_png(path.c_str(), w, h, c, image.data_ptr(), w * c)) LESEG_FAIL(path, ": cannot write PNG");
}

namespace {

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  static uint32_t table[256];
  static bool init = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)init;
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void put_be32(std::vector<uint8_t>& o, uint32_t v) {
  for (int s = 3; s >= 0; --s) o.push_back(uint8_t(v >> (8 * s)));
}

void chunk(std::vector<uint8_t>& o, const char* type, const std::vector<uint8_t>& data) {
  put_be32(o, uint32_t(data.size()));
  size_t start = o.size();
  o.insert(o.end(), type, type + 4);
  o.insert(o.end(), data.begin(), data.end());
  put_be32(o, crc32(o.data() + start, o.size() - start));
}

}  // namespace

void write_png_u16(const std::string& path, const Tensor& values0) {
  LESEG_CHECK(values0.defined(), "write_png_u16(", path, "): undefined tensor");
  Tensor values = values0.device().is_cpu() ? values0 : values0.to(Device::cpu());
  LESEG_CHECK(values.ndim() == 2, "write_png_u16(", path, "): shape ", values.shape().str(), ", expected (H, W)");
  LESEG_CHECK(values.dtype() == DType::i32 || values.dtype() == DType::i64, "write_png_u16(", path, "): dtype ",
              dtype_name(values.dtype()), ", expected i32 or i64");
  std::vector<int64_t> v = values.to_vector<int64_t>();
  const uint32_t h = uint32_t(values.size(0)), w = uint32_t(values.size(1));
  LESEG_CHECK(h > 0 && w > 0, "write_png_u16(", path, "): empty image ", values.shape().str());
  std::vector<uint8_t> raw;
  raw.reserve(size_t(h) * (size_t(w) * 2 + 1));
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);  // filter: none
    for (uint32_t x = 0; x < w; ++x) {
      int64_t s = v[size_t(y) * w + x];
      if (s < 0 || s > 65535) LESEG_FAIL("write_png_u16(", path, "): value ", s, " at (", y, ", ", x, ") outside [0, 65535]");
      raw.push_back(uint8_t(s >> 8));
      raw.push_back(uint8_t(s & 0xff));
    }
  }
  LESEG_CHECK(raw.size() < size_t(INT32_MAX), "write_png_u16(", path, "): image too large");
  int zlen = 0;
  unsigned char* z = leseg_zlib_compress(raw.data(), int(raw.size()), &zlen, 0);
  if (!z) LESEG_FAIL("write_png_u16(", path, "): zlib compression failed");
  std::vector<uint8_t> idat(z, z + zlen);
  STBIW_FREE(z);
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});  // bit depth 16, grey, deflate, filter 0, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", idat);
  chunk(png, "IEND", {});
  write_file_bytes(path, png.data(), png.size());
}

}  // namespace leseg::io
