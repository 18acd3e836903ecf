// SPDX-License-Identifier: Apache-2.0
// Run-time reporting for the Trainer: a progress line (bar, loss, scenes/s, points/s, elapsed, ETA of the whole
// run including the evaluations still to come, last mIoU, memory: CPU resident set and, once the CUDA allocator
// has been used, its in-use / peak bytes) redrawn in place on a terminal and printed as plain lines when stdout
// is not a TTY (logs, CI), or as one JSON object per line (`--log-format json`, for scripts); metrics appended
// as JSON lines; SIGINT/SIGTERM recorded as a flag so the loop can checkpoint and exit cleanly.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace leseg::train {

// Process-wide console format of `leseg train`: text (default) or JSON lines (`--log-format json`).
enum class LogFormat { Text, Json };
void set_log_format(LogFormat f);
LogFormat log_format();
LogFormat parse_log_format(const std::string& s);  // "text" | "json"; error names the value

// Resident set size of this process in bytes (Linux /proc/self/statm; 0 where unavailable).
int64_t resident_memory_bytes();
// "1.2 GiB", "340 MiB", "12 KiB".
std::string format_bytes(double bytes);

class Progress {
 public:
  // total = steps in this phase; is_tty = whether to redraw in place (default: isatty(stdout)).
  Progress(std::string label, int64_t total, int print_every = 10);
  Progress(std::string label, int64_t total, int print_every, bool is_tty, std::FILE* out);
  // One step done: `scenes` and `points` processed in it; `loss` shown when finite.
  void step(int64_t scenes, int64_t points, double loss, const std::string& extra = "");
  void finish();
  double elapsed_s() const;
  // Latest validation mIoU (shown from then on).
  void set_miou(double miou) { miou_ = miou; }
  // Time spent outside the steps (evaluation): left out of the step rate. `pending_s`: time the run will still
  // spend outside the steps (the evaluations to come), added to the ETA.
  void add_pause(double s) { paused_s_ += s; }
  void set_pending(double pending_s) { pending_s_ = pending_s; }
  // The fields of the line as JSON (what --log-format json prints).
  nlohmann::json fields() const;
  // Formats seconds as 1h02m03s / 4m05s / 6.1s.
  static std::string format_duration(double s);

 private:
  void draw(bool final_line);
  std::string label_;
  int64_t total_, done_ = 0, scenes_ = 0, points_ = 0;
  int print_every_;
  bool tty_;
  std::FILE* out_;
  double last_loss_ = 0, ema_loss_ = 0;
  bool have_loss_ = false;
  double miou_ = -1, paused_s_ = 0, pending_s_ = 0;
  std::string extra_;
  std::chrono::steady_clock::time_point start_;
};

// Appends one JSON object per line, flushed each time (a crash loses nothing already written).
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path);
  void write(const nlohmann::json& record);
  bool open() const { return out_.is_open(); }
  // Every record written is also handed to `sink` (the TensorBoard event writer, train.tensorboard).
  void mirror(std::function<void(const nlohmann::json&)> sink) { mirror_ = std::move(sink); }

 private:
  std::function<void(const nlohmann::json&)> mirror_;
  std::ofstream out_;
  std::string path_;
};

// Installs SIGINT/SIGTERM handlers that only set a flag; stop_requested() reads it.
void install_stop_handlers();
bool stop_requested();
int stop_signal();               // the signal that asked to stop, 0 if none
void request_stop_for_testing(int sig);
void clear_stop_request();

}  // namespace leseg::train
