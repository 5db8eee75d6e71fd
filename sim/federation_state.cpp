// Federation::save_state / restore_state: everything that changes during a run, in one fixed
// order. The constructor rebuilds what is derived from the config (system model, rules, sizes),
// so a restored federation equals the one that was saved.
#include "common/error.hpp"
#include "sim/archive.hpp"
#include "sim/federation.hpp"

namespace fedsim::sim {
namespace {

constexpr uint64_t kStateMagic = 0x66656473696d5331ULL;  // "fedsimS1"

void put_matrix(ByteWriter& w, const std::vector<std::vector<float>>& m) {
  w.put<uint64_t>(m.size());
  for (const auto& v : m) w.put_vec(v);
}
std::vector<std::vector<float>> get_matrix(ByteReader& r) {
  const auto n = r.get<uint64_t>();
  if (n > (1ULL << 32)) r.fail();
  std::vector<std::vector<float>> m(n);
  for (auto& v : m) v = r.get_vec<float>();
  return m;
}

template <class T>
void put_rows(ByteWriter& w, const std::vector<std::vector<T>>& rows) {
  w.put<uint64_t>(rows.size());
  for (const auto& v : rows) w.put_vec(v);
}
template <class T>
std::vector<std::vector<T>> get_rows(ByteReader& r) {
  const auto n = r.get<uint64_t>();
  if (n > (1ULL << 32)) r.fail();
  std::vector<std::vector<T>> rows(n);
  for (auto& v : rows) v = r.get_vec<T>();
  return rows;
}

void put_results(ByteWriter& w, const RunResults& res) {
  w.put_vec(res.rounds);
  put_rows(w, res.participation);
  const ClientTotals& t = res.clients;
  w.put_vec(t.rounds_joined);
  w.put_vec(t.updates_accepted);
  w.put_vec(t.tokens_trained);
  w.put_vec(t.busy_s);
  w.put_vec(t.local_eval_accuracy);
  w.put_vec(res.client_eval_round);
  put_rows(w, res.client_eval_accuracy);
}

void get_results(ByteReader& r, RunResults& res) {
  res.rounds = r.get_vec<RoundRow>();
  res.participation = get_rows<int32_t>(r);
  ClientTotals& t = res.clients;
  const size_t n = t.n_samples.size();
  t.rounds_joined = r.get_vec<int64_t>();
  t.updates_accepted = r.get_vec<int64_t>();
  t.tokens_trained = r.get_vec<int64_t>();
  t.busy_s = r.get_vec<double>();
  t.local_eval_accuracy = r.get_vec<double>();
  if (t.rounds_joined.size() != n || t.updates_accepted.size() != n || t.tokens_trained.size() != n ||
      t.busy_s.size() != n)
    r.fail();
  res.client_eval_round = r.get_vec<int64_t>();
  res.client_eval_accuracy = get_rows<double>(r);
}

}  // namespace

std::vector<uint8_t> Federation::save_state() const {
  ByteWriter count(ByteWriter::CountOnly{});
  write_state(count);
  ByteWriter w;
  w.reserve(count.size());
  write_state(w);
  FEDSIM_ASSERT(w.size() == count.size());
  return w.take();
}

void Federation::write_state(ByteWriter& w) const {
  w.put(kStateMagic);
  w.put<int32_t>(n_clients_);
  w.put<uint64_t>(global_.size());
  queue_.save(w);
  jobs_.save(w);
  w.put_vec(global_);
  put_matrix(w, local_adapters_);
  const auto rule_state = rule_->state();
  w.put<uint64_t>(rule_state.size());
  for (const auto& [name, v] : rule_state) w.put_vec(*v);
  w.put<uint8_t>(scaffold_ ? 1 : 0);
  if (scaffold_) {
    w.put_vec(scaffold_->c());
    put_matrix(w, const_cast<Scaffold&>(*scaffold_).ci_mut());
  }
  w.put<uint64_t>(work_.size());
  for (const Work& x : work_) {
    w.put(x.client);
    w.put(x.round);
    w.put_vec(x.start);
    w.put_vec(x.adapter);
    w.put_vec(x.scaffold_delta);
    w.put(x.result);
    w.put(x.job);
    w.put<uint8_t>(x.active);
    w.put<uint8_t>(x.trained);
  }
  w.put_vec(free_work_);
  put_results(w, results_);
  w.put(events_);
  w.put<uint8_t>(finished_);
  w.put(wall_offset_);
  // Sync round.
  w.put(round_);
  w.put(round_started_);
  w.put<uint64_t>(target_);
  w.put<uint64_t>(selected_);
  w.put<uint64_t>(dropped_);
  w.put_vec(arrived_);
  w.put_vec(in_round_);
  w.put(deadline_event_);
  w.put<uint8_t>(deadline_pending_);
  // Async.
  w.put(version_);
  w.put(launches_);
  w.put_bools(in_flight_);
  w.put_vec(buffer_);
  w.put_vec(buffer_weights_);
  w.put<uint64_t>(async_dropped_);
  w.put<uint64_t>(async_stale_);
  w.put<uint64_t>(async_joined_);
  w.put(last_aggregate_);
  w.put<uint8_t>(retry_pending_);
  w.put(retry_event_);
  w.put(kStateMagic);
}

void Federation::restore_state(const std::vector<uint8_t>& bytes) {
  ByteReader r(bytes, "checkpoint");
  if (r.get<uint64_t>() != kStateMagic) r.fail();
  if (r.get<int32_t>() != n_clients_ || r.get<uint64_t>() != global_.size())
    throw UserError("checkpoint: saved for another number of clients or adapter size; it does not match this config");
  queue_.load(r);
  jobs_.load(r);
  global_ = r.get_vec<float>();
  local_adapters_ = get_matrix(r);
  const auto rule_state = rule_->state();
  if (r.get<uint64_t>() != rule_state.size()) r.fail();
  for (const auto& [name, v] : rule_state) *v = r.get_vec<double>();
  const bool has_scaffold = r.get<uint8_t>() != 0;
  if (has_scaffold != static_cast<bool>(scaffold_)) r.fail();
  if (scaffold_) {
    scaffold_->c_mut() = r.get_vec<float>();
    scaffold_->ci_mut() = get_matrix(r);
    if (scaffold_->ci_mut().size() != static_cast<size_t>(n_clients_)) r.fail();
  }
  const auto n_work = r.get<uint64_t>();
  if (n_work > (1ULL << 24)) r.fail();
  work_.assign(n_work, Work{});
  for (Work& x : work_) {
    x.client = r.get<int32_t>();
    x.round = r.get<int64_t>();
    x.start = r.get_vec<float>();
    x.adapter = r.get_vec<float>();
    x.scaffold_delta = r.get_vec<float>();
    x.result = r.get<LocalResult>();
    x.job = r.get<uint32_t>();
    x.active = r.get<uint8_t>() != 0;
    x.trained = r.get<uint8_t>() != 0;
    if (x.client < -1 || x.client >= n_clients_) r.fail();
  }
  free_work_ = r.get_vec<size_t>();
  get_results(r, results_);
  events_ = r.get<uint64_t>();
  finished_ = r.get<uint8_t>() != 0;
  wall_offset_ = r.get<double>();
  round_ = r.get<int64_t>();
  round_started_ = r.get<Tick>();
  target_ = r.get<uint64_t>();
  selected_ = r.get<uint64_t>();
  dropped_ = r.get<uint64_t>();
  arrived_ = r.get_vec<size_t>();
  in_round_ = r.get_vec<size_t>();
  deadline_event_ = r.get<EventId>();
  deadline_pending_ = r.get<uint8_t>() != 0;
  version_ = r.get<int64_t>();
  launches_ = r.get<uint64_t>();
  in_flight_ = r.get_bools();
  buffer_ = r.get_vec<size_t>();
  buffer_weights_ = r.get_vec<double>();
  async_dropped_ = r.get<uint64_t>();
  async_stale_ = r.get<uint64_t>();
  async_joined_ = r.get<uint64_t>();
  last_aggregate_ = r.get<Tick>();
  retry_pending_ = r.get<uint8_t>() != 0;
  retry_event_ = r.get<EventId>();
  if (r.get<uint64_t>() != kStateMagic || !r.done()) r.fail();
  for (size_t s : free_work_)
    if (s >= work_.size()) r.fail();
  for (size_t s : arrived_)
    if (s >= work_.size()) r.fail();
  for (size_t s : in_round_)
    if (s >= work_.size()) r.fail();
  for (size_t s : buffer_)
    if (s >= work_.size()) r.fail();
  if (in_flight_.size() != static_cast<size_t>(n_clients_)) r.fail();
}

}  // namespace fedsim::sim
