// SPDX-License-Identifier: Apache-2.0
#include "engine/stream_pool.h"

namespace leseg {

StreamBlockPool::~StreamBlockPool() {
  for (auto& [p, b] : pending_)
    for (EventId e : b.events) model_->release(e);
}

void StreamBlockPool::add_live(void* p, size_t size, StreamId s) {
  Block b;
  b.size = size;
  b.stream = s;
  if (auto c = captures_.find(s); c != captures_.end()) b.pool = c->second;
  live_[p] = std::move(b);
}

void StreamBlockPool::park(void* p, const Block& b) {
  Block k;
  k.size = b.size;
  k.stream = b.stream;
  k.pool = b.pool;
  if (b.pool) pool_free_[b.pool].emplace(b.size, p);
  else free_[b.stream].emplace(b.size, p);
  parked_[p] = std::move(k);
}

void StreamBlockPool::process_events() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    Block& b = it->second;
    // Query every outstanding event; drop the completed ones.
    std::vector<EventId> left;
    for (EventId e : b.events) {
      if (model_->query(e)) model_->release(e);
      else left.push_back(e);
    }
    b.events = std::move(left);
    if (b.events.empty()) {
      park(it->first, b);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void* StreamBlockPool::take(size_t size, StreamId s) {
  if (captures_.empty()) process_events();  // an event query would invalidate an open capture
  std::multimap<size_t, void*>* list = nullptr;
  if (auto c = captures_.find(s); c != captures_.end()) {
    auto pit = pool_free_.find(c->second);
    if (pit == pool_free_.end()) return nullptr;
    list = &pit->second;
  } else {
    auto fit = free_.find(s);
    if (fit == free_.end()) return nullptr;
    list = &fit->second;
  }
  auto& fl = *list;
  auto it = fl.lower_bound(size);
  if (it == fl.end() || it->first > 2 * size) return nullptr;  // refuse blocks more than twice the request
  void* p = it->second;
  fl.erase(it);
  Block b = std::move(parked_.at(p));
  parked_.erase(p);
  b.used_on.clear();
  live_[p] = std::move(b);
  return p;
}

void StreamBlockPool::record_stream(void* p, StreamId s) {
  auto it = live_.find(p);
  LESEG_CHECK(it != live_.end(), "record_stream: pointer ", p, " is not a live block of the caching allocator");
  if (s != it->second.stream) it->second.used_on.insert(s);
}

bool StreamBlockPool::free(void* p) {
  auto it = live_.find(p);
  if (it == live_.end()) return false;
  Block b = std::move(it->second);
  live_.erase(it);
  if (b.used_on.empty()) {
    park(p, b);  // only its own stream used it: stream order protects the next user on that stream
    return true;
  }
  // Used on other streams: an event on each marks the end of the work queued there so far.
  try {
    for (StreamId s : b.used_on) b.events.push_back(model_->record(s));
  } catch (...) {
    // No event, no safe reuse: the block is leaked (never served again), and the error goes to the caller.
    for (EventId e : b.events) model_->release(e);
    ++leaked_;
    throw;
  }
  b.used_on.clear();
  pending_[p] = std::move(b);
  return true;
}

std::vector<std::pair<void*, size_t>> StreamBlockPool::release_free() {
  std::vector<std::pair<void*, size_t>> out;
  if (!captures_.empty()) return out;  // nothing goes back to the system during a capture
  process_events();
  for (auto& [s, fl] : free_)
    for (auto& [sz, p] : fl) {
      out.emplace_back(p, sz);
      parked_.erase(p);
    }
  free_.clear();
  return out;
}

void StreamBlockPool::begin_capture(PoolId id, StreamId s) {
  LESEG_CHECK(id != 0, "caching allocator: graph pool id 0 is the general pool");
  LESEG_CHECK(!captures_.count(s), "caching allocator: stream ", s, " already captures into graph pool ",
              captures_.count(s) ? captures_.at(s) : 0);
  captures_[s] = id;
}

void StreamBlockPool::end_capture(StreamId s) {
  LESEG_CHECK(captures_.erase(s) == 1, "caching allocator: stream ", s, " has no open capture");
}

std::vector<std::pair<void*, size_t>> StreamBlockPool::release_pool(PoolId id) {
  for (auto& [s, open] : captures_)
    LESEG_CHECK(open != id, "caching allocator: graph pool ", id, " is released while a capture into it is open");
  std::vector<std::pair<void*, size_t>> out;
  if (auto it = pool_free_.find(id); it != pool_free_.end()) {
    for (auto& [sz, p] : it->second) {
      out.emplace_back(p, sz);
      parked_.erase(p);
    }
    pool_free_.erase(it);
  }
  for (auto& [p, b] : live_)
    if (b.pool == id) b.pool = 0;
  for (auto& [p, b] : pending_)
    if (b.pool == id) b.pool = 0;
  return out;
}

size_t StreamBlockPool::pool_blocks(PoolId id) const {
  size_t n = 0;
  for (auto& [p, b] : live_) n += b.pool == id;
  for (auto& [p, b] : pending_) n += b.pool == id;
  if (auto it = pool_free_.find(id); it != pool_free_.end()) n += it->second.size();
  return n;
}

StreamBlockPool::PoolId StreamBlockPool::pool_of(void* p) const {
  if (auto it = live_.find(p); it != live_.end()) return it->second.pool;
  if (auto it = pending_.find(p); it != pending_.end()) return it->second.pool;
  if (auto it = parked_.find(p); it != parked_.end()) return it->second.pool;
  return 0;
}

void StreamBlockPool::drain() {
  if (!captures_.empty()) return;  // waiting for an event would invalidate an open capture
  for (auto& [p, b] : pending_) {
    for (EventId e : b.events) {
      model_->wait(e);
      model_->release(e);
    }
    b.events.clear();
    park(p, b);
  }
  pending_.clear();
}

size_t StreamBlockPool::free_blocks() const {
  size_t n = 0;
  for (auto& [s, fl] : free_) n += fl.size();
  for (auto& [id, fl] : pool_free_) n += fl.size();
  return n;
}

bool StreamBlockPool::used_on_other_streams(void* p) const {
  auto it = live_.find(p);
  return it != live_.end() && !it->second.used_on.empty();
}

size_t StreamBlockPool::size_of(void* p) const {
  if (auto it = live_.find(p); it != live_.end()) return it->second.size;
  if (auto it = pending_.find(p); it != pending_.end()) return it->second.size;
  if (auto it = parked_.find(p); it != parked_.end()) return it->second.size;
  return 0;
}

StreamGuard::StreamGuard(Device d, kernels::StreamHandle s) : d_(d) {
  if (d_.is_cuda()) {
    prev_ = current_stream(d_);
    set_current_stream(d_, s);
  }
}
StreamGuard::~StreamGuard() {
  if (d_.is_cuda()) set_current_stream(d_, prev_);
}

}  // namespace leseg
