// SPDX-License-Identifier: Apache-2.0
#include "train/progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>

#include "engine/allocator.h"
#include "engine/error.h"

namespace leseg::train {

namespace {
std::atomic<int> g_log_format{0};

// CUDA allocator stats once it has been used (in use or peak > 0); nullopt otherwise or without CUDA.
bool gpu_stats(MemoryStats& out) {
#if LESEG_WITH_CUDA
  static const bool avail = cuda_available();
  if (!avail) return false;
  try {
    out = memory_stats(Device::cuda(0));
  } catch (const std::exception&) {
    return false;
  }
  return out.peak > 0;
#else
  (void)out;
  return false;
#endif
}
}  // namespace

void set_log_format(LogFormat f) { g_log_format.store(f == LogFormat::Json ? 1 : 0); }
LogFormat log_format() { return g_log_format.load() ? LogFormat::Json : LogFormat::Text; }
LogFormat parse_log_format(const std::string& s) {
  if (s == "text") return LogFormat::Text;
  if (s == "json") return LogFormat::Json;
  LESEG_FAIL("--log-format: '", s, "' is neither 'text' nor 'json'");
}

int64_t resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, rss = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &rss);
  std::fclose(f);
  return n == 2 ? int64_t(rss) * int64_t(sysconf(_SC_PAGESIZE)) : 0;
}

std::string format_bytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) snprintf(buf, sizeof buf, "%.0f MiB", b / (1024.0 * 1024));
  else snprintf(buf, sizeof buf, "%.0f KiB", b / 1024.0);
  return buf;
}

Progress::Progress(std::string label, int64_t total, int print_every)
    : Progress(std::move(label), total, print_every, isatty(fileno(stdout)) != 0, stdout) {}

Progress::Progress(std::string label, int64_t total, int print_every, bool is_tty, std::FILE* out)
    : label_(std::move(label)), total_(total), print_every_(print_every < 1 ? 1 : print_every), tty_(is_tty), out_(out),
      start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::format_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else snprintf(buf, sizeof buf, "%dh%02dm%02ds", int(s) / 3600, (int(s) / 60) % 60, int(s) % 60);
  return buf;
}

void Progress::step(int64_t scenes, int64_t points, double loss, const std::string& extra) {
  ++done_;
  scenes_ += scenes;
  points_ += points;
  extra_ = extra;
  if (std::isfinite(loss)) {
    last_loss_ = loss;
    ema_loss_ = have_loss_ ? 0.9 * ema_loss_ + 0.1 * loss : loss;
    have_loss_ = true;
  }
  const bool redraw = tty_ && log_format() == LogFormat::Text;  // JSON lines: every print_every steps, TTY or not
  if (redraw || done_ % print_every_ == 0 || done_ == total_) draw(false);
}

void Progress::finish() { draw(true); }

nlohmann::json Progress::fields() const {
  const double t = elapsed_s(), steps_t = std::max(t - paused_s_, 1e-9);
  const double rate = double(done_) / steps_t;
  const double eta = (rate > 0 && total_ > done_ ? double(total_ - done_) / rate : 0.0) + pending_s_;
  nlohmann::json j = {{"type", "progress"}, {"phase", label_}, {"step", done_}, {"total", total_},
                      {"scenes_per_s", t > 0 ? double(scenes_) / t : 0.0}, {"points_per_s", t > 0 ? double(points_) / t : 0.0},
                      {"elapsed_s", t}, {"eta_s", eta}, {"rss_bytes", resident_memory_bytes()}};
  if (have_loss_) j["loss"] = last_loss_, j["loss_avg"] = ema_loss_;
  if (miou_ >= 0) j["miou"] = miou_;
  MemoryStats g;
  if (gpu_stats(g)) j["gpu_in_use_bytes"] = g.in_use, j["gpu_peak_bytes"] = g.peak;
  if (!extra_.empty()) j["extra"] = extra_;
  return j;
}

void Progress::draw(bool final_line) {
  if (log_format() == LogFormat::Json) {
    nlohmann::json j = fields();
    if (final_line) j["final"] = true;
    std::fprintf(out_, "%s\n", j.dump().c_str());
    std::fflush(out_);
    return;
  }
  double t = elapsed_s();
  const double steps_t = std::max(t - paused_s_, 1e-9);
  double rate = double(done_) / steps_t;
  double eta = (rate > 0 && total_ > done_ ? double(total_ - done_) / rate : 0) + pending_s_;
  std::string mem = "  mem " + format_bytes(double(resident_memory_bytes()));
  MemoryStats g;
  if (gpu_stats(g)) mem += ", gpu " + format_bytes(double(g.in_use)) + " (peak " + format_bytes(double(g.peak)) + ")";
  if (miou_ >= 0) {
    char m[32];
    snprintf(m, sizeof m, "  mIoU %.2f", 100.0 * miou_);
    mem = m + mem;
  }
  char buf[640];
  std::string bar;
  if (tty_) {
    int w = 24, filled = total_ > 0 ? int(double(w) * double(done_) / double(total_)) : 0;
    bar = "[" + std::string(size_t(std::min(filled, w)), '#') + std::string(size_t(w - std::min(filled, w)), '.') + "] ";
  }
  snprintf(buf, sizeof buf, "%s%s %lld/%lld  loss %.4f (avg %.4f)  %.2f scenes/s  %.0f pts/s  elapsed %s  eta %s%s%s%s",
           bar.c_str(), label_.c_str(), (long long)done_, (long long)total_, last_loss_, ema_loss_,
           t > 0 ? double(scenes_) / t : 0.0, t > 0 ? double(points_) / t : 0.0, format_duration(t).c_str(),
           format_duration(eta).c_str(), mem.c_str(), extra_.empty() ? "" : "  ", extra_.c_str());
  if (tty_) std::fprintf(out_, "\r\033[2K%s%s", buf, final_line ? "\n" : "");
  else std::fprintf(out_, "%s\n", buf);
  std::fflush(out_);
}

MetricsLog::MetricsLog(const std::string& path) : out_(path, std::ios::app), path_(path) {
  LESEG_CHECK(out_.is_open(), "metrics log: cannot open '", path, "' for appending");
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!out_.is_open()) return;
  out_ << record.dump() << "\n";
  out_.flush();
  LESEG_CHECK(out_.good(), "metrics log: write to '", path_, "' failed");
  if (mirror_) mirror_(record);
}

namespace {
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}
bool stop_requested() { return g_stop_signal.load() != 0; }
int stop_signal() { return g_stop_signal.load(); }
void request_stop_for_testing(int sig) { g_stop_signal.store(sig); }
void clear_stop_request() { g_stop_signal.store(0); }

}  // namespace leseg::train
