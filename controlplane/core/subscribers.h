// Change notification for the core managers: callbacks registered by RAII Subscription handles.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace tollgate::controlplane::core {

// A registration with a Subscribers list. Move-only; unsubscribes on destruction or reset().
// After reset() (or the destructor) returns, the callback is not running and never runs again,
// except when reset() is called from inside that very callback (then the current call finishes).
// It is safe for a Subscription to outlive the Subscribers it came from.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  ~Subscription() { reset(); }
  Subscription(Subscription&& other) noexcept : cancel_(std::move(other.cancel_)) {
    other.cancel_ = nullptr;
  }
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::move(other.cancel_);
      other.cancel_ = nullptr;
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  void reset() {
    if (cancel_) {
      auto cancel = std::move(cancel_);
      cancel_ = nullptr;
      cancel();
    }
  }

 private:
  std::function<void()> cancel_;
};

// A list of callbacks taking `const Args&...`. notify() calls every callback in registration
// order, one notify at a time (calls are serialised by an internal recursive mutex), on the
// thread that calls notify(). Callbacks must be quick (post work elsewhere), must not block on
// another thread that might be unsubscribing from this list, and must not throw. A callback
// may unsubscribe itself or subscribe others. Thread-safe.
template <typename... Args>
class Subscribers {
 public:
  using Callback = std::function<void(const Args&...)>;

  Subscribers() : state_(std::make_shared<State>()) {}

  Subscription add(Callback callback) {
    std::lock_guard lock(state_->mu);
    uint64_t id = ++state_->next_id;
    state_->callbacks.emplace(id, std::move(callback));
    std::weak_ptr<State> weak = state_;
    return Subscription([weak, id] {
      if (auto s = weak.lock()) {
        std::lock_guard guard(s->mu);
        s->callbacks.erase(id);
      }
    });
  }

  void notify(const Args&... args) {
    std::lock_guard lock(state_->mu);
    // Iterate by id so that callbacks removed (or added) during the loop are handled.
    uint64_t last = 0;
    while (true) {
      auto it = state_->callbacks.upper_bound(last);
      if (it == state_->callbacks.end()) break;
      last = it->first;
      Callback cb = it->second;
      cb(args...);
    }
  }

  size_t size() const {
    std::lock_guard lock(state_->mu);
    return state_->callbacks.size();
  }

 private:
  struct State {
    mutable std::recursive_mutex mu;
    uint64_t next_id = 0;
    std::map<uint64_t, Callback> callbacks;
  };
  std::shared_ptr<State> state_;
};

}  // namespace tollgate::controlplane::core
