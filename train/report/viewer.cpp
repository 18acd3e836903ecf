// SPDX-License-Identifier: Apache-2.0
#include "train/report/viewer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "io/datasets/scene_io.h"
#include "io/formats/npy.h"
#include "io/formats/ply.h"
#include "io/geometry/pairing.h"
#include "train/report/canvas.h"

namespace fs = std::filesystem;

namespace leseg::train::report {

namespace {

struct Cloud {
  std::string name;
  std::vector<float> xyz;
  std::vector<uint8_t> rgb;                // empty = none
  std::vector<int32_t> gt, pred, pseudo;   // empty = none
  int64_t n() const { return int64_t(xyz.size() / 3); }
};

std::vector<int32_t> int_labels(const Tensor& t, const std::string& what, int64_t n) {
  LESEG_CHECK(t.defined() && t.numel() == n, what, ": ", t.defined() ? t.numel() : 0, " labels for ", n, " points");
  return t.to_vector<int32_t>();
}

// Per point the most frequent CLIP-like label over the views pairing with it (ties -> smaller class), -1 if none.
std::vector<int32_t> projected_clip_labels(const io::Scene& s) {
  const int64_t n = s.num_points();
  // one key (point << 32 | label) per pairing with a labelled pixel: memory O(pairs), not O(points x classes)
  std::vector<uint64_t> keys;
  bool any = false;
  for (const auto& v : s.views) {
    if (!v.clip_labels.defined()) continue;
    any = true;
    Tensor pix = io::project_to_view(s.coords, v).to(Device::cpu());
    const int32_t* px = pix.data<int32_t>();
    const int32_t* lab = v.clip_labels.data<int32_t>();
    for (int64_t i = 0; i < n; ++i)
      if (px[i] >= 0 && lab[px[i]] >= 0) keys.push_back(uint64_t(i) << 32 | uint32_t(lab[px[i]]));
  }
  if (!any) return {};
  std::sort(keys.begin(), keys.end());
  std::vector<int32_t> out(size_t(n), -1);
  std::vector<int64_t> best(size_t(n), 0);
  for (size_t a = 0; a < keys.size();) {
    size_t b = a;
    while (b < keys.size() && keys[b] == keys[a]) ++b;
    const size_t i = size_t(keys[a] >> 32);
    if (int64_t(b - a) > best[i]) best[i] = int64_t(b - a), out[i] = int32_t(keys[a] & 0xFFFFFFFFu);  // ties: smaller label first
    a = b;
  }
  return out;
}

Cloud from_ply(const std::string& path) {
  io::PlyData ply = io::read_ply(path);
  Cloud c;
  c.name = fs::path(path).stem().string();
  const int64_t n = ply.num_vertices;
  const auto &x = ply.get("x"), &y = ply.get("y"), &z = ply.get("z");
  c.xyz.resize(size_t(n) * 3);
  for (int64_t i = 0; i < n; ++i)
    c.xyz[size_t(i) * 3] = float(x[size_t(i)]), c.xyz[size_t(i) * 3 + 1] = float(y[size_t(i)]), c.xyz[size_t(i) * 3 + 2] = float(z[size_t(i)]);
  if (ply.has("red") && ply.has("green") && ply.has("blue")) {
    c.rgb.resize(size_t(n) * 3);
    const auto &r = ply.get("red"), &g = ply.get("green"), &b = ply.get("blue");
    for (int64_t i = 0; i < n; ++i) {
      c.rgb[size_t(i) * 3] = uint8_t(std::clamp(r[size_t(i)], 0.0, 255.0));
      c.rgb[size_t(i) * 3 + 1] = uint8_t(std::clamp(g[size_t(i)], 0.0, 255.0));
      c.rgb[size_t(i) * 3 + 2] = uint8_t(std::clamp(b[size_t(i)], 0.0, 255.0));
    }
  }
  auto col = [&](const char* name, std::vector<int32_t>& out) {
    if (!ply.has(name)) return;
    const auto& v = ply.get(name);
    out.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = int32_t(v[size_t(i)]);
  };
  col("label", c.pred);
  col("gt", c.gt);
  return c;
}

std::string b64_of(const void* p, size_t bytes) { return base64(std::string(static_cast<const char*>(p), bytes)); }

std::string b64_labels(const std::vector<int32_t>& v, const std::vector<int64_t>& keep) {
  std::vector<int16_t> o(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) o[i] = int16_t(std::clamp(v[size_t(keep[i])], -1, 32767));
  return b64_of(o.data(), o.size() * 2);
}

std::string json_str(const std::string& s) { return nlohmann::json(s).dump(); }

const char* kPage = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>leseg view: @TITLE@</title>
<style>
html,body{margin:0;height:100%;overflow:hidden;font-family:sans-serif;font-size:13px;background:#1e1e1e;color:#ddd}
#view{position:absolute;left:0;top:0;right:260px;bottom:0}
#panel{position:absolute;right:0;top:0;width:250px;bottom:0;overflow:auto;padding:5px;background:#2a2a2a}
#panel h3{font-size:14px;margin:8px 0 4px}
.sw{display:inline-block;width:12px;height:12px;margin:0 5px -2px 3px;border:1px solid #555}
#legend label{display:block;white-space:nowrap}
#status{font-size:11px;color:#aaa;margin-top:8px}
button{font-size:11px}
</style></head><body>
<div id="view"></div>
<div id="panel">
<h3>@TITLE@</h3>
<div id="modes"></div>
<h3>point size <span id="psv">2</span> px</h3>
<input id="ps" type="range" min="1" max="10" step="1" value="2">
<h3>classes</h3>
<button id="all">all</button> <button id="none">none</button>
<div id="legend"></div>
<div id="status">loading...</div>
<p style="font-size:11px;color:#888">drag: orbit · right-drag: pan · wheel: zoom</p>
</div>
<script src="three.min.js"></script>
<script src="OrbitControls.js"></script>
<script>
const D = @DATA@;
function b64(s, T) { const b = atob(s); const u = new Uint8Array(b.length); for (let i = 0; i < b.length; ++i) u[i] = b.charCodeAt(i); return new T(u.buffer); }
const status = document.getElementById('status');
try {
  const n = D.shown;
  const pos = b64(D.positions, Float32Array);
  const rgb = D.colors ? b64(D.colors, Uint8Array) : null;
  const L = {};
  for (const k of ['gt', 'pred', 'pseudo']) if (D[k]) L[k] = b64(D[k], Int16Array);
  const modes = [];
  if (rgb) modes.push(['color', 'colour']);
  if (L.gt) modes.push(['gt', 'ground truth']);
  if (L.pred) modes.push(['pred', 'prediction']);
  if (L.gt && L.pred) modes.push(['error', 'error (wrong in red)']);
  if (L.pseudo) modes.push(['pseudo', 'pseudo-labels (CLIP, projected)']);
  if (modes.length === 0) modes.push(['plain', 'points']);
  let mode = L.gt ? 'gt' : modes[0][0];
  const hidden = new Array(D.classes.length).fill(false);
  const md = document.getElementById('modes');
  for (const [k, name] of modes) {
    const l = document.createElement('label'); l.style.display = 'block';
    l.innerHTML = '<input type="radio" name="mode" value="' + k + '"' + (k === mode ? ' checked' : '') + '> ' + name;
    l.querySelector('input').onchange = () => { mode = k; update(); };
    md.appendChild(l);
  }
  // legend: classes present in any label set, with counts of the shown points
  const count = new Array(D.classes.length).fill(0);
  for (const k in L) for (let i = 0; i < n; ++i) { const c = L[k][i]; if (c >= 0 && c < count.length) count[c]++; }
  const leg = document.getElementById('legend');
  D.classes.forEach((name, c) => {
    if (count[c] === 0) return;
    const p = D.palette[c];
    const l = document.createElement('label');
    l.className = 'cls';
    l.innerHTML = '<input type="checkbox" checked data-class="' + c + '"><span class="sw" style="background:rgb(' + p.join(',') + ')"></span>' +
                  name.replace(/</g, '&lt;');
    l.querySelector('input').onchange = (e) => { hidden[c] = !e.target.checked; update(); };
    leg.appendChild(l);
  });
  document.getElementById('all').onclick = () => { hidden.fill(false); leg.querySelectorAll('input').forEach(x => x.checked = true); update(); };
  document.getElementById('none').onclick = () => { hidden.fill(true); leg.querySelectorAll('input').forEach(x => x.checked = false); update(); };

  const el = document.getElementById('view');
  const renderer = new THREE.WebGLRenderer({antialias: false, preserveDrawingBuffer: true});
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(el.clientWidth, el.clientHeight);
  renderer.setClearColor(0x1e1e1e);
  el.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  const r = D.radius;
  const camera = new THREE.PerspectiveCamera(50, el.clientWidth / el.clientHeight, r * 0.005, r * 50);
  camera.up.set(0, 0, 1);
  camera.position.set(-1.3 * r, -1.3 * r, 1.0 * r);
  const controls = new THREE.OrbitControls(camera, renderer.domElement);
  controls.target.set(0, 0, 0);
  controls.update();
  const geom = new THREE.BufferGeometry();
  geom.setAttribute('position', new THREE.BufferAttribute(pos, 3));
  const col = new Float32Array(n * 3);
  geom.setAttribute('color', new THREE.BufferAttribute(col, 3));
  const mat = new THREE.PointsMaterial({size: 2, vertexColors: THREE.VertexColors, sizeAttenuation: false});
  scene.add(new THREE.Points(geom, mat));
  let drawn = 0;
  function update() {
    const lab = mode === 'pred' ? L.pred : mode === 'pseudo' ? L.pseudo : (L.gt || L.pred || L.pseudo || null);
    const idx = [];
    for (let i = 0; i < n; ++i) {
      const c = lab ? lab[i] : -1;
      if (c >= 0 && c < hidden.length && hidden[c]) continue;
      idx.push(i);
      let R = 0.6, G = 0.6, B = 0.6;
      if (mode === 'color' && rgb) { R = rgb[3 * i] / 255; G = rgb[3 * i + 1] / 255; B = rgb[3 * i + 2] / 255; }
      else if (mode === 'error') {
        const g = L.gt[i], p = L.pred[i];
        if (g < 0) { R = G = B = 0.3; } else if (g === p) { R = G = B = 0.72; } else { R = 0.9; G = 0.1; B = 0.1; }
      } else if (mode !== 'color' && mode !== 'plain' && c >= 0 && c < D.palette.length) {
        R = D.palette[c][0] / 255; G = D.palette[c][1] / 255; B = D.palette[c][2] / 255;
      } else if (mode !== 'color' && mode !== 'plain') { R = G = B = 0.35; }
      col[3 * i] = R; col[3 * i + 1] = G; col[3 * i + 2] = B;
    }
    geom.setIndex(new THREE.BufferAttribute(new Uint32Array(idx), 1));
    geom.attributes.color.needsUpdate = true;
    drawn = idx.length;
    status.textContent = 'showing ' + D.shown + ' of ' + D.points + ' points' + (D.shown < D.points ? ' (subsampled to the cap of ' + D.cap + ')' : '') +
                         '; ' + drawn + ' visible; mode ' + mode;
    renderer.render(scene, camera);
  }
  const ps = document.getElementById('ps');
  ps.oninput = () => { mat.size = +ps.value; document.getElementById('psv').textContent = ps.value; renderer.render(scene, camera); };
  window.addEventListener('resize', () => {
    camera.aspect = el.clientWidth / el.clientHeight; camera.updateProjectionMatrix();
    renderer.setSize(el.clientWidth, el.clientHeight); renderer.render(scene, camera);
  });
  controls.addEventListener('change', () => renderer.render(scene, camera));
  update();
  document.body.setAttribute('data-rendered', String(drawn));
} catch (e) {
  status.textContent = 'error: ' + e.message + ' (the viewer needs WebGL)';
  document.body.setAttribute('data-error', e.message);
}
</script>
</body></html>
)HTML";

void copy_three(const fs::path& from, const fs::path& to) {
  LESEG_CHECK(fs::exists(from), "view: '", from.string(), "' not found: install Debian's libjs-three (scripts/setup.sh does) ",
              "or pass --three DIR");
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

ViewerResult write_viewer(const std::string& input, const ViewerOptions& opt) {
  LESEG_CHECK(fs::exists(input), "view: '", input, "' does not exist");
  LESEG_CHECK(opt.max_points >= 1, "view: --max-points ", opt.max_points, " must be >= 1");
  Cloud c;
  std::string dataset = opt.dataset;
  fs::path in = fs::path(input);
  if (fs::is_directory(in) && !fs::exists(in / "coord.npy")) {  // a `leseg infer` output folder
    std::vector<fs::path> plys;
    for (auto& e : fs::directory_iterator(in))
      if (e.path().filename().string().size() > 9 && e.path().string().ends_with("_pred.ply")) plys.push_back(e.path());
    LESEG_CHECK(plys.size() == 1, "view: '", input, "' is neither a scene directory (coord.npy) nor a `leseg infer` ",
                "output folder with exactly one *_pred.ply (found ", plys.size(), ")");
    in = plys[0];
  }
  if (fs::is_directory(in)) {
    io::SceneReadOptions ro;
    ro.view_images = false;
    ro.view_extras = false;
    io::Scene s = io::read_scene(in.string(), ro);
    c.name = s.name.empty() ? in.filename().string() : s.name;
    const int64_t n = s.num_points();
    LESEG_CHECK(n > 0, "view: scene '", input, "' has no points");
    const float* p = s.coords.data<float>();
    c.xyz.assign(p, p + n * 3);
    if (s.colors.defined()) {
      const uint8_t* q = s.colors.data<uint8_t>();
      c.rgb.assign(q, q + n * 3);
    }
    if (s.labels.defined()) c.gt = int_labels(s.labels, "segment.npy", n);
    c.pseudo = projected_clip_labels(s);
    if (dataset.empty() && fs::exists(in.parent_path().parent_path() / "dataset.json")) dataset = in.parent_path().parent_path().string();
  } else {
    LESEG_CHECK(in.extension() == ".ply", "view: '", input, "' is neither a scene directory, an infer output folder nor a .ply file");
    c = from_ply(in.string());
  }
  if (!opt.predictions.empty()) c.pred = int_labels(io::read_npy(opt.predictions), "--predictions '" + opt.predictions + "'", c.n());
  const int64_t n = c.n();
  LESEG_CHECK(n > 0, "view: '", input, "' has no points");

  std::vector<std::string> classes;
  if (!dataset.empty()) classes = io::read_dataset_info(dataset).classes;
  int max_label = -1;
  for (const auto* v : {&c.gt, &c.pred, &c.pseudo})
    for (int32_t x : *v) max_label = std::max(max_label, x);
  for (int k = int(classes.size()); k <= max_label; ++k) classes.push_back("class " + std::to_string(k));

  // subsample to the cap (deterministic)
  std::vector<int64_t> keep(static_cast<size_t>(n));
  std::iota(keep.begin(), keep.end(), 0);
  if (n > opt.max_points) {
    std::mt19937_64 rng(0);
    for (int64_t i = 0; i < opt.max_points; ++i) {
      std::uniform_int_distribution<int64_t> d(i, n - 1);
      std::swap(keep[size_t(i)], keep[size_t(d(rng))]);
    }
    keep.resize(size_t(opt.max_points));
    std::sort(keep.begin(), keep.end());
  }
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  for (int64_t i : keep)
    for (int k = 0; k < 3; ++k) lo[k] = std::min(lo[k], double(c.xyz[size_t(i) * 3 + k])), hi[k] = std::max(hi[k], double(c.xyz[size_t(i) * 3 + k]));
  const double ctr[3] = {(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2};
  double radius = 0;
  for (int k = 0; k < 3; ++k) radius += (hi[k] - lo[k]) * (hi[k] - lo[k]);
  radius = std::max(std::sqrt(radius) / 2, 1e-3);
  std::vector<float> pos(keep.size() * 3);
  std::vector<uint8_t> rgb(c.rgb.empty() ? 0 : keep.size() * 3);
  for (size_t j = 0; j < keep.size(); ++j)
    for (int k = 0; k < 3; ++k) {
      pos[j * 3 + k] = float(c.xyz[size_t(keep[j]) * 3 + k] - ctr[k]);
      if (!rgb.empty()) rgb[j * 3 + k] = c.rgb[size_t(keep[j]) * 3 + k];
    }

  std::ostringstream d;
  d << "{\"name\":" << json_str(c.name) << ",\"points\":" << n << ",\"shown\":" << keep.size() << ",\"cap\":" << opt.max_points
    << ",\"radius\":" << radius << ",\"classes\":" << nlohmann::json(classes).dump() << ",\"palette\":[";
  for (size_t k = 0; k < classes.size(); ++k) {
    const Rgb col = class_rgb(int(k));
    d << (k ? "," : "") << "[" << int(col.r) << "," << int(col.g) << "," << int(col.b) << "]";
  }
  d << "],\"positions\":\"" << b64_of(pos.data(), pos.size() * 4) << "\"";
  if (!rgb.empty()) d << ",\"colors\":\"" << b64_of(rgb.data(), rgb.size()) << "\"";
  if (!c.gt.empty()) d << ",\"gt\":\"" << b64_labels(c.gt, keep) << "\"";
  if (!c.pred.empty()) d << ",\"pred\":\"" << b64_labels(c.pred, keep) << "\"";
  if (!c.pseudo.empty()) d << ",\"pseudo\":\"" << b64_labels(c.pseudo, keep) << "\"";
  d << "}";

  std::string page = kPage;
  auto replace_all = [&](const std::string& key, const std::string& val) {
    for (size_t at = page.find(key); at != std::string::npos; at = page.find(key, at + val.size())) page.replace(at, key.size(), val);
  };
  std::string title;
  for (char ch : c.name) title += (ch == '<' || ch == '>' || ch == '&') ? '_' : ch;
  replace_all("@TITLE@", title);
  replace_all("@DATA@", d.str());

  fs::path out = opt.out_dir.empty() ? fs::path(input).parent_path() / (fs::path(input).stem().string() + "_view") : fs::path(opt.out_dir);
  if (opt.out_dir.empty() && fs::path(input).filename().empty()) out = fs::path(input).parent_path().string() + "_view";
  fs::create_directories(out);
  copy_three(fs::path(opt.three_dir) / "build" / "three.min.js", out / "three.min.js");
  copy_three(fs::path(opt.three_dir) / "examples" / "js" / "controls" / "OrbitControls.js", out / "OrbitControls.js");
  ViewerResult r;
  r.html_path = (out / "index.html").string();
  {
    std::ofstream f(r.html_path);
    LESEG_CHECK(f.is_open(), "view: cannot write '", r.html_path, "'");
    f << page;
  }
  r.points = n;
  r.shown = int64_t(keep.size());
  r.classes = int(classes.size());
  r.has_gt = !c.gt.empty(), r.has_pred = !c.pred.empty(), r.has_pseudo = !c.pseudo.empty();
  return r;
}

}  // namespace leseg::train::report
