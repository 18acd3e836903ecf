// SPDX-License-Identifier: Apache-2.0
#include "models/registry.h"

#include <cstdio>
#include <sstream>

namespace leseg::models {

namespace {
using Planes = std::array<int64_t, 8>;
using Layers = std::array<int, 8>;
constexpr Layers k14{1, 1, 1, 1, 1, 1, 1, 1};
constexpr Layers k18{2, 2, 2, 2, 2, 2, 2, 2};
constexpr Layers k34{2, 3, 4, 6, 2, 2, 2, 2};
constexpr Planes kME{32, 64, 128, 256, 256, 128, 96, 96};
constexpr Planes kC2S{32, 64, 128, 256, 128, 128, 96, 96};
constexpr Planes kA{32, 64, 128, 256, 128, 128, 96, 96};
constexpr Planes kB{32, 64, 128, 256, 128, 128, 128, 128};
constexpr Planes kC14{32, 64, 128, 256, 192, 192, 128, 128};
constexpr Planes kD{32, 64, 128, 256, 384, 384, 384, 384};
constexpr Planes k34A{32, 64, 128, 256, 256, 128, 64, 64};
constexpr Planes k34B{32, 64, 128, 256, 256, 128, 64, 32};
constexpr Planes k34C{32, 64, 128, 256, 256, 128, 96, 96};

struct Row {
  const char* name;
  Layers layers;
  Planes planes;
  const char* description;
};
const std::vector<Row>& minkunet_rows() {
  static const std::vector<Row> rows = {
      {"MinkUNet14A", k14, kA, "MinkUNet14A (HICL / CLIP2Scene ScanNet backbone)"},
      {"MinkUNet14B", k14, kB, "MinkUNet14B"},
      {"MinkUNet14C", k14, kC14, "MinkUNet14C"},
      {"MinkUNet14D", k14, kD, "MinkUNet14D"},
      {"MinkUNet18A", k18, kA, "MinkUNet18A"},
      {"MinkUNet18B", k18, kB, "MinkUNet18B"},
      {"MinkUNet18D", k18, kD, "MinkUNet18D"},
      {"MinkUNet34A", k34, k34A, "MinkUNet34A"},
      {"MinkUNet34B", k34, k34B, "MinkUNet34B"},
      {"MinkUNet34C", k34, k34C, "MinkUNet34C (CNS backbone)"},
      {"MinkUNet14", k14, kME, "MinkUNet14, MinkowskiEngine base PLANES"},
      {"MinkUNet18", k18, kME, "MinkUNet18, MinkowskiEngine base PLANES"},
      {"MinkUNet34", k34, kME, "MinkUNet34, MinkowskiEngine base PLANES"},
      {"MinkUNet14-C2S", k14, kC2S, "MinkUNet14, CLIP2Scene base PLANES"},
      {"MinkUNet18-C2S", k18, kC2S, "MinkUNet18, CLIP2Scene base PLANES"},
      {"MinkUNet34-C2S", k34, kC2S, "MinkUNet34, CLIP2Scene base PLANES"},
  };
  return rows;
}
}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const auto& r : minkunet_rows()) out.push_back(r.name);
  out.push_back("SPVCNN");
  return out;
}

bool has_model(const std::string& name) {
  for (const auto& n : model_names())
    if (n == name) return true;
  return false;
}

ModelSpec model_spec(const std::string& name) {
  for (const auto& r : minkunet_rows()) {
    if (name != r.name) continue;
    ModelSpec s;
    s.name = name;
    s.family = ModelFamily::MinkUNet;
    s.minkunet.layers = r.layers;
    s.minkunet.planes = r.planes;
    s.description = r.description;
    return s;
  }
  if (name == "SPVCNN") {
    ModelSpec s;
    s.name = name;
    s.family = ModelFamily::SPVCNN;
    s.description = "SPVCNN (point-voxel, trilinear devoxelisation, 480-d per-point output)";
    return s;
  }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  LESEG_FAIL("unknown model '", name, "' (known: ", known, ")");
}

std::vector<StageInfo> Backbone::stages() const {
  if (minkunet) return minkunet->stages();
  if (spvcnn) return spvcnn->stages();
  return {};
}

Backbone create_backbone(const std::string& name, const ModelOptions& o) {
  const ModelSpec spec = model_spec(name);
  Backbone b;
  b.name = name;
  b.family = spec.family;
  if (spec.family == ModelFamily::MinkUNet) {
    MinkUNetConfig c = spec.minkunet;
    c.in_channels = o.in_channels;
    c.stem_kernel = o.stem_kernel;
    c.bn_momentum = o.bn_momentum;
    c.block_bn_momentum = o.block_bn_momentum;
    c.dtype = o.dtype;
    c.seed = o.seed;
    c.init_weights = o.init_weights;
    b.minkunet = std::make_shared<MinkUNet>(c);
    b.module = b.minkunet;
    b.out_channels = b.minkunet->out_channels();
  } else {
    SPVCNNConfig c;
    c.in_channels = o.in_channels;
    c.voxel_size = o.voxel_size;
    c.bn_momentum = o.spvcnn_bn_momentum;
    c.dtype = o.dtype;
    c.seed = o.seed;
    c.init_weights = o.init_weights;
    b.spvcnn = std::make_shared<SPVCNN>(c);
    b.module = b.spvcnn;
    b.out_channels = b.spvcnn->out_channels();
  }
  return b;
}

ModelInfo model_info(const std::string& name, const ModelOptions& options) {
  ModelOptions opts = options;
  opts.init_weights = false;  // only shapes are read
  const Backbone b = create_backbone(name, opts);
  ModelInfo info;
  info.name = name;
  info.description = model_spec(name).description;
  info.parameter_count = parameter_count(*b.module);
  info.in_channels = opts.in_channels;
  info.out_channels = b.out_channels;
  info.stages = b.stages();
  return info;
}

std::string model_summary(const ModelInfo& info) {
  std::ostringstream os;
  os << info.name << ": " << info.description << "\n";
  os << "parameters: " << info.parameter_count << " (" << double(info.parameter_count) / 1e6 << " M)\n";
  os << "input: (N, " << info.in_channels << ")  output: (N, " << info.out_channels << ")\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %7s %10s %10s %7s %12s\n", "stage", "stride", "in", "out", "blocks",
                "parameters");
  os << line;
  for (const auto& s : info.stages) {
    const std::string stride = s.tensor_stride == 0 ? std::string("point") : std::to_string(s.tensor_stride);
    std::snprintf(line, sizeof line, "%-28s %7s %10lld %10lld %7d %12lld\n", s.name.c_str(), stride.c_str(),
                  (long long)s.in_channels, (long long)s.out_channels, s.blocks, (long long)s.parameters);
    os << line;
  }
  return os.str();
}

}  // namespace leseg::models
