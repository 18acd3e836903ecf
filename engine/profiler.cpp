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

namespace leseg::profiler {
namespace detail {
std::atomic<bool> g_enabled{false};
}

namespace {

using Clock = std::chrono::steady_clock;
int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

struct Row {
  int64_t calls = 0, total_ns = 0, self_ns = 0;
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
}

void push(const char* name) {
  auto& s = st();
  const int64_t t = now_ns();
  std::lock_guard<std::mutex> lk(s.mu);
  if (!mine(s)) return;
  if (!s.stack.empty()) s.stack.back().bytes += s.pending_bytes;  // untimed bytes before the scope: the parent's
  s.pending_bytes = 0;
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
  Row& r = s.rows[std::string("fwd:") + name];
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
  std::vector<std::pair<std::string, Row>> v(s.rows.begin(), s.rows.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second.self_ns != b.second.self_ns ? a.second.self_ns > b.second.self_ns : a.first < b.first;
  });
  const double top = double(std::max<int64_t>(1, s.top_ns));
  const double per = double(std::max<int64_t>(1, s.steps));
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "leseg profile: %lld steps, %.3f s timed (per step %.3f s)\n",
                (long long)s.steps, top * 1e-9, top * 1e-9 / per);
  out += line;
  std::snprintf(line, sizeof line, "%-44s %8s %12s %12s %7s %12s\n", "name", "calls", "total ms", "self ms", "share",
                "alloc");
  out += line;
  int64_t rest_self = 0, rest_calls = 0;
  size_t rest_bytes = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const Row& r = v[i].second;
    if (int(i) >= max_rows) {
      rest_self += r.self_ns, rest_calls += r.calls, rest_bytes += r.bytes;
      continue;
    }
    std::string name = v[i].first;
    if (name.size() > 44) name = name.substr(0, 41) + "...";
    std::snprintf(line, sizeof line, "%-44s %8lld %12.1f %12.1f %6.1f%% %12s\n", name.c_str(), (long long)r.calls,
                  double(r.total_ns) * 1e-6, double(r.self_ns) * 1e-6, 100.0 * double(r.self_ns) / top,
                  human_bytes(r.bytes).c_str());
    out += line;
  }
  if (rest_calls) {
    std::snprintf(line, sizeof line, "%-44s %8lld %12s %12.1f %6.1f%% %12s\n", "(other rows)", (long long)rest_calls,
                  "", double(rest_self) * 1e-6, 100.0 * double(rest_self) / top, human_bytes(rest_bytes).c_str());
    out += line;
  }
  return out;
}

}  // namespace leseg::profiler
