// SPDX-License-Identifier: Apache-2.0
#include "engine/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "engine/checkpoint/safetensors.h"

namespace leseg {

namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "leseg-checkpoint";
constexpr int kVersion = 1;

void fsync_path(const std::string& p, bool dir) {
  int fd = ::open(p.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  LESEG_CHECK(fd >= 0, "checkpoint: cannot open '", p, "' to fsync: ", std::strerror(errno));
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  LESEG_CHECK(r == 0, "checkpoint: fsync of '", p, "' failed: ", std::strerror(err));
}


std::string make_temp_dir(const std::string& base) {
  std::string tmpl = base + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  LESEG_CHECK(::mkdtemp(buf.data()) != nullptr, "checkpoint: cannot create temporary directory '", tmpl, "': ",
              std::strerror(errno));
  return std::string(buf.data());
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LESEG_CHECK(f.good(), "checkpoint: cannot open '", path, "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json meta_json(const Checkpoint& ck) {
  nlohmann::json m;
  m["format"] = kFormat;
  m["version"] = kVersion;
  m["step"] = ck.step;
  m["epoch"] = ck.epoch;
  m["config"] = ck.config;
  nlohmann::json rng = nlohmann::json::object();
  for (const auto& [k, r] : ck.rng) rng[k] = {{"seed", r.seed}, {"offset", r.offset}, {"subsequence", r.subsequence}};
  m["rng"] = rng;
  m["scheduler"] = ck.scheduler;
  m["extra"] = ck.extra;
  return m;
}
}  // namespace

std::string save_checkpoint(const std::string& root, const std::string& name, const Checkpoint& ck,
                            const CheckpointWriteOptions& opts) {
  LESEG_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "latest" && name != "." && name != "..",
              "checkpoint: invalid name '", name, "'");
  std::error_code ec;
  fs::create_directories(root, ec);
  LESEG_CHECK(!ec, "checkpoint: cannot create directory '", root, "': ", ec.message());
  std::string final_dir = (fs::path(root) / name).string();
  std::string tmp = make_temp_dir(final_dir);

  save_safetensors(tmp + "/model.safetensors", ck.model, {{"format", "pt"}}, true);
  save_safetensors(tmp + "/optimizer.safetensors", ck.optimizer, {{"format", "leseg-optimizer"}}, true);
  write_file(tmp + "/meta.json", meta_json(ck).dump(2) + "\n", true);
  fsync_path(tmp, true);

  if (opts.before_rename) opts.before_rename(tmp);

  std::string old;
  bool exchanged = false;
  if (fs::exists(final_dir)) {
    // Overwrite: exchange the two directories atomically (renameat2 RENAME_EXCHANGE), so no moment exists
    // without a complete <name>; the old one, now at `tmp`, is deleted after. Filesystems without the exchange
    // get a swap (old moved aside, new renamed in); latest_checkpoint() finds the moved-aside copy if a crash
    // falls between the two renames.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      exchanged = true;
      old = tmp;
    } else {
      old = make_temp_dir(final_dir + ".old");
      fs::remove(old);
      fs::rename(final_dir, old, ec);
      LESEG_CHECK(!ec, "checkpoint: cannot move '", final_dir, "' aside: ", ec.message());
    }
  }
  if (!exchanged) {
    fs::rename(tmp, final_dir, ec);
    LESEG_CHECK(!ec, "checkpoint: cannot rename '", tmp, "' to '", final_dir, "': ", ec.message());
  }
  fsync_path(root, true);
  if (!old.empty()) fs::remove_all(old, ec);

  if (opts.update_latest) {
    std::string latest = (fs::path(root) / "latest").string();
    std::string ltmp = latest + ".tmp-" + std::to_string(::getpid());
    write_file(ltmp, name + "\n", true);
    fs::rename(ltmp, latest, ec);
    LESEG_CHECK(!ec, "checkpoint: cannot rename '", ltmp, "' to '", latest, "': ", ec.message());
    fsync_path(root, true);
  }
  return final_dir;
}

Checkpoint load_checkpoint(const std::string& dir, Device device) {
  LESEG_CHECK(fs::is_directory(dir), "checkpoint: '", dir, "' is not a directory");
  Checkpoint ck;
  std::string meta_path = (fs::path(dir) / "meta.json").string();
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(read_text(meta_path));
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL("checkpoint: '", meta_path, "' is not valid JSON: ", e.what());
  }
  try {
    LESEG_CHECK(m.is_object() && m.value("format", "") == kFormat, "checkpoint: '", meta_path,
                "' is not a leseg checkpoint (format field)");
    LESEG_CHECK(m.value("version", -1) == kVersion, "checkpoint: '", meta_path, "' has version ", m.value("version", -1),
                ", expected ", kVersion);
    ck.step = m.at("step").get<int64_t>();
    ck.epoch = m.at("epoch").get<int64_t>();
    ck.config = m.value("config", nlohmann::json::object());
    const nlohmann::json rng = m.value("rng", nlohmann::json::object());
    for (auto it = rng.begin(); it != rng.end(); ++it)
      ck.rng[it.key()] = {it.value().at("seed").get<uint64_t>(), it.value().at("offset").get<uint64_t>(),
                          it.value().at("subsequence").get<uint64_t>()};
    ck.scheduler = m.value("scheduler", nlohmann::json::object());
    ck.extra = m.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL("checkpoint: '", meta_path, "': bad field: ", e.what());
  }
  ck.model = load_safetensors((fs::path(dir) / "model.safetensors").string(), device).tensors;
  ck.optimizer = load_safetensors((fs::path(dir) / "optimizer.safetensors").string(), device).tensors;
  return ck;
}

namespace {

// The newest complete checkpoint directory under root when `latest` is missing or names no directory (a crash
// between the two renames of a swap, or before the first pointer was written): by name (step_NNNNNNNN sorts by
// step), a moved-aside "<name>.old.tmp-*" standing for <name>; directories still being written (*.tmp-*) are
// never chosen.
std::optional<std::string> newest_complete(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return std::nullopt;
  std::string best_key, best;
  for (auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory() || !fs::exists(e.path() / "meta.json")) continue;
    std::string n = e.path().filename().string(), key = n;
    const size_t old = n.find(".old.tmp-");
    if (old != std::string::npos) key = n.substr(0, old);
    else if (n.find(".tmp-") != std::string::npos) continue;
    if (best.empty() || key > best_key || (key == best_key && old == std::string::npos)) best_key = key, best = e.path().string();
  }
  if (best.empty()) return std::nullopt;
  return best;
}

}  // namespace

std::optional<std::string> latest_checkpoint(const std::string& root) {
  std::string latest = (fs::path(root) / "latest").string();
  if (!fs::exists(latest)) return newest_complete(root);
  std::string name = read_text(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ' || name.back() == '\r')) name.pop_back();
  LESEG_CHECK(!name.empty() && name.find('/') == std::string::npos, "checkpoint: '", latest, "' holds an invalid name");
  std::string dir = (fs::path(root) / name).string();
  if (!fs::is_directory(dir)) return newest_complete(root);
  return dir;
}

}  // namespace leseg
