// SPDX-License-Identifier: Apache-2.0
#include "engine/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>

#include "engine/device.h"
#endif

namespace leseg::profiler {
namespace detail {
std::atomic<bool> g_enabled{false};
}

namespace {

using Clock = std::chrono::steady_clock;
int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

struct Row {
  int64_t calls = 0, total_ns = 0, self_ns = 0;
  int64_t dev_ns = 0;  // device time of the row's self intervals (CUDA events), when device timing is on
  size_t bytes = 0;
  int depth = 0;  // smallest nesting depth seen (0 = outermost scope)
  bool scope = false;
};
struct Frame {
  std::string name;
  int64_t start = 0, child_ns = 0, last = 0;  // last: the previous timing boundary inside this frame
  size_t bytes = 0;                           // bytes while this frame was the innermost
};

struct State {
  std::mutex mu;
  std::map<std::string, Row> rows;
  std::vector<Frame> stack;  // of the first thread that pushed (the op thread)
  std::thread::id owner;
  bool has_owner = false;
  size_t pending_bytes = 0;  // bytes since the last boundary (charged to the next op, or the frame)
  int64_t steps = 0, top_ns = 0, step_limit = 0;
  bool printed = false;
  // Device timing (CUDA builds, a device present, LESEG_PROFILE_CUDA not 0): one event recorded on the current
  // stream at every timing boundary; the interval between two consecutive events is charged to the row whose host
  // self time the same interval is (dev_names[i] names the interval that ends at dev_events[i]; "" = none).
  // Folded (a host sync) when a step's optimizer scope closes and when the table is made.
  int dev_state = -1;  // -1 unchecked, 0 off, 1 on
  std::string dev_off_reason;
  std::vector<void*> dev_events, event_pool;
  std::vector<std::string> dev_names;
  int64_t dev_total_ns = 0;
};
State& st() {
  static State* s = new State();
  return *s;
}

bool mine(State& s) {
  const auto id = std::this_thread::get_id();
  if (!s.has_owner) {
    s.owner = id;
    s.has_owner = true;
  }
  return s.owner == id;
}

void print_table() {
  std::fprintf(stderr, "%s", table().c_str());
  std::fflush(stderr);
}

struct EnvInit {
  EnvInit() {
    const char* e = std::getenv("LESEG_PROFILE");
    if (e && *e && std::strcmp(e, "0") != 0) {
      detail::g_enabled = true;
      if (const char* n = std::getenv("LESEG_PROFILE_STEPS")) st().step_limit = std::atoll(n);
      std::atexit([] {
        if (!st().printed) print_table();
      });
    }
  }
} g_env_init;

std::string human_bytes(size_t b) {
  char buf[32];
  if (b >= (size_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(size_t(1) << 30));
  else if (b >= (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(size_t(1) << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  else std::snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}

#if LESEG_WITH_CUDA
void dev_off(State& s, const char* what, cudaError_t e) {
  cudaGetLastError();
  s.dev_state = 0;
  s.dev_off_reason = std::string(what) + ": " + cudaGetErrorString(e);
  for (void* ev : s.dev_events) cudaEventDestroy(static_cast<cudaEvent_t>(ev));
  for (void* ev : s.event_pool) cudaEventDestroy(static_cast<cudaEvent_t>(ev));
  s.dev_events.clear();
  s.dev_names.clear();
  s.event_pool.clear();
}
#endif

// Records the boundary that ends an interval charged to `row` ("" = to no row) on the current CUDA stream (s.mu held).
void dev_mark(State& s, const std::string& row) {
#if LESEG_WITH_CUDA
  if (s.dev_state < 0) {
    const char* e = std::getenv("LESEG_PROFILE_CUDA");
    s.dev_state = (e && std::strcmp(e, "0") == 0) || !cuda_available() ? 0 : 1;
  }
  if (s.dev_state != 1) return;
  int idx = 0;
  if (cudaError_t e = cudaGetDevice(&idx); e != cudaSuccess) return dev_off(s, "cudaGetDevice", e);
  auto stream = static_cast<cudaStream_t>(current_stream(Device::cuda(idx)));
  cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
  if (cudaError_t e = cudaStreamIsCapturing(stream, &cap); e != cudaSuccess) return dev_off(s, "cudaStreamIsCapturing", e);
  if (cap != cudaStreamCaptureStatusNone) return;  // inside a CUDA-graph capture: the interval runs on into the next mark
  void* ev = nullptr;
  if (!s.event_pool.empty()) {
    ev = s.event_pool.back();
    s.event_pool.pop_back();
  } else {
    cudaEvent_t e = nullptr;
    if (cudaError_t r = cudaEventCreate(&e); r != cudaSuccess) return dev_off(s, "cudaEventCreate", r);
    ev = e;
  }
  if (cudaError_t r = cudaEventRecord(static_cast<cudaEvent_t>(ev), stream); r != cudaSuccess) {
    s.event_pool.push_back(ev);
    return dev_off(s, "cudaEventRecord", r);
  }
  s.dev_events.push_back(ev);
  s.dev_names.push_back(row);
#else
  (void)s;
  (void)row;
#endif
}

// Waits for the recorded events and charges each interval to its row; keeps the last event as the next start.
void dev_fold(State& s) {
#if LESEG_WITH_CUDA
  if (s.dev_state != 1 || s.dev_events.size() < 2) return;
  auto last = static_cast<cudaEvent_t>(s.dev_events.back());
  if (cudaError_t e = cudaEventSynchronize(last); e != cudaSuccess) return dev_off(s, "cudaEventSynchronize", e);
  for (size_t i = 1; i < s.dev_events.size(); ++i) {
    float ms = 0.0f;
    cudaError_t e = cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(s.dev_events[i - 1]),
                                         static_cast<cudaEvent_t>(s.dev_events[i]));
    if (e != cudaSuccess) return dev_off(s, "cudaEventElapsedTime", e);
    const int64_t ns = int64_t(double(ms) * 1e6);
    s.dev_total_ns += ns;
    if (!s.dev_names[i].empty()) s.rows[s.dev_names[i]].dev_ns += ns;
  }
  for (size_t i = 0; i + 1 < s.dev_events.size(); ++i) s.event_pool.push_back(s.dev_events[i]);
  s.dev_events.erase(s.dev_events.begin(), s.dev_events.end() - 1);
  s.dev_names.erase(s.dev_names.begin(), s.dev_names.end() - 1);
#else
  (void)s;
#endif
}

}  // namespace

void enable(bool on) { detail::g_enabled = on; }

void reset() {
  auto& s = st();
  std::lock_guard<std::mutex> lk(s.mu);
  s.rows.clear();
  s.stack.clear();
  s.pending_bytes = 0;
  s.steps = s.top_ns = 0;
  s.has_owner = false;
  s.dev_total_ns = 0;
  for (void* ev : s.dev_events) s.event_pool.push_back(ev);
  s.dev_events.clear();
  s.dev_names.clear();
}

void push(const char* name) {
  auto& s = st();
  const int64_t t = now_ns();
  std::lock_guard<std::mutex> lk(s.mu);
  if (!mine(s)) return;
  if (!s.stack.empty()) s.stack.back().bytes += s.pending_bytes;  // untimed bytes before the scope: the parent's
  s.pending_bytes = 0;
  dev_mark(s, s.stack.empty() ? std::string() : s.stack.back().name);  // the parent's self time ends here
  s.stack.push_back(Frame{name, t, 0, t, 0});
}

void pop() {
  auto& s = st();
  const int64_t t = now_ns();
  bool print = false;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (!mine(s) || s.stack.empty()) return;
    Frame f = std::move(s.stack.back());
    s.stack.pop_back();
    dev_mark(s, f.name);  // the frame's self time ends here (the parent's resumes)
    const int64_t total = t - f.start;
    Row& r = s.rows[f.name];
    r.scope = true;
    r.depth = r.calls == 0 ? int(s.stack.size()) : std::min(r.depth, int(s.stack.size()));
    r.calls++;
    r.total_ns += total;
    r.self_ns += total - f.child_ns;
    r.bytes += f.bytes + s.pending_bytes;
    s.pending_bytes = 0;
    if (s.stack.empty()) s.top_ns += total;
    else {
      s.stack.back().child_ns += total;
      s.stack.back().last = t;
    }
    if (f.name == "leseg::optimizer") {
      dev_fold(s);
      ++s.steps;
      print = s.step_limit > 0 && s.steps == s.step_limit && !s.printed;
      if (print) s.printed = true;
    }
  }
  if (print) print_table();
}

void mark_op(const char* name) {
  auto& s = st();
  const int64_t t = now_ns();
  std::lock_guard<std::mutex> lk(s.mu);
  if (!mine(s) || s.stack.empty()) return;  // outside every scope: nothing to measure against
  Frame& f = s.stack.back();
  if (f.name.compare(0, 4, "bwd:") == 0) return;  // ops inside a backward closure: that closure's self time
  const int64_t dt = t - f.last;
  const std::string row = std::string("fwd:") + name;
  dev_mark(s, row);
  Row& r = s.rows[row];
  r.depth = r.calls == 0 ? int(s.stack.size()) : std::min(r.depth, int(s.stack.size()));
  r.calls++;
  r.total_ns += dt;
  r.self_ns += dt;
  r.bytes += s.pending_bytes;
  s.pending_bytes = 0;
  f.child_ns += dt;
  f.last = t;
}

void note_alloc(size_t bytes) {
  auto& s = st();
  std::lock_guard<std::mutex> lk(s.mu);
  s.pending_bytes += bytes;
}

int64_t steps() {
  auto& s = st();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.steps;
}

std::string table(int max_rows) {
  auto& s = st();
  std::lock_guard<std::mutex> lk(s.mu);
  dev_fold(s);
  const bool dev = s.dev_state == 1;
  std::vector<std::pair<std::string, Row>> v(s.rows.begin(), s.rows.end());
  // by device time when it is measured (what the GPU spends), else by host self time
  std::sort(v.begin(), v.end(), [dev](const auto& a, const auto& b) {
    const int64_t ka = dev ? a.second.dev_ns : a.second.self_ns, kb = dev ? b.second.dev_ns : b.second.self_ns;
    return ka != kb ? ka > kb : a.first < b.first;
  });
  const double top = double(std::max<int64_t>(1, s.top_ns));
  const double per = double(std::max<int64_t>(1, s.steps));
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "leseg profile: %lld steps, %.3f s timed (per step %.3f s)\n",
                (long long)s.steps, top * 1e-9, top * 1e-9 / per);
  out += line;
  std::snprintf(line, sizeof line, "%-44s %8s %12s %12s %7s %12s", "name", "calls", "total ms", "self ms", "share",
                "alloc");
  out += line;
  if (dev) out += "    device ms  dev share";
  out += "\n";
  const double dtop = double(std::max<int64_t>(1, s.dev_total_ns));
  int64_t rest_self = 0, rest_calls = 0, rest_dev = 0;
  size_t rest_bytes = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const Row& r = v[i].second;
    if (int(i) >= max_rows) {
      rest_self += r.self_ns, rest_calls += r.calls, rest_bytes += r.bytes, rest_dev += r.dev_ns;
      continue;
    }
    std::string name = v[i].first;
    if (name.size() > 44) name = name.substr(0, 41) + "...";
    std::snprintf(line, sizeof line, "%-44s %8lld %12.1f %12.1f %6.1f%% %12s", name.c_str(), (long long)r.calls,
                  double(r.total_ns) * 1e-6, double(r.self_ns) * 1e-6, 100.0 * double(r.self_ns) / top,
                  human_bytes(r.bytes).c_str());
    out += line;
    if (dev) {
      std::snprintf(line, sizeof line, " %12.1f %9.1f%%", double(r.dev_ns) * 1e-6, 100.0 * double(r.dev_ns) / dtop);
      out += line;
    }
    out += "\n";
  }
  if (rest_calls) {
    std::snprintf(line, sizeof line, "%-44s %8lld %12s %12.1f %6.1f%% %12s", "(other rows)", (long long)rest_calls,
                  "", double(rest_self) * 1e-6, 100.0 * double(rest_self) / top, human_bytes(rest_bytes).c_str());
    out += line;
    if (dev) {
      std::snprintf(line, sizeof line, " %12.1f %9.1f%%", double(rest_dev) * 1e-6, 100.0 * double(rest_dev) / dtop);
      out += line;
    }
    out += "\n";
  }
  if (dev) {
    std::snprintf(line, sizeof line, "device time (CUDA events on the current stream): %.3f s in all\n",
                  double(s.dev_total_ns) * 1e-9);
    out += line;
  } else if (!s.dev_off_reason.empty()) {
    out += "device timing off after an error: " + s.dev_off_reason + "\n";
  }
  return out;
}

}  // namespace leseg::profiler
