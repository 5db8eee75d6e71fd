// FederatedDataset <-> HDF5. The layout is documented in FORMAT.md; keep the two in step and
// bump kFormatVersion (dataset.hpp) on any change a reader of the old layout would misread.
#include <hdf5.h>

#include <cmath>
#include <string>
#include <unordered_set>

#include "datasets/common/error.hpp"
#include "datasets/common/h5.hpp"
#include "datasets/dataset.hpp"

namespace fedsim::datasets {
namespace {

// One dataset per field over all samples of a split: a few HDF5 objects per client instead of
// one per sample keeps 747 clients well under a second to write.
void write_samples(const h5::Group& g, const std::vector<Sample>& samples) {
  const size_t n = samples.size();
  std::vector<std::string> instruction(n), response(n), answer(n);
  std::vector<int32_t> task(n);
  std::vector<float> quality(n);
  for (size_t i = 0; i < n; ++i) {
    instruction[i] = samples[i].instruction;
    response[i] = samples[i].response;
    answer[i] = samples[i].answer;
    task[i] = samples[i].task;
    quality[i] = samples[i].quality;
  }
  g.write_strings("instruction", instruction);
  g.write_strings("response", response);
  g.write_strings("answer", answer);
  g.write("task", task);
  g.write("quality", quality);
}

std::vector<Sample> read_samples(const h5::Group& g, size_t n_tasks) {
  const std::vector<std::string> instruction = g.read_strings("instruction");
  const std::vector<std::string> response = g.read_strings("response");
  const std::vector<std::string> answer = g.read_strings("answer");
  std::vector<hsize_t> task_dims, quality_dims;
  const std::vector<int32_t> task = g.read<int32_t>("task", &task_dims);
  const std::vector<float> quality = g.read<float>("quality", &quality_dims);
  const size_t n = instruction.size();
  auto check_len = [&](const char* name, size_t len, size_t rank) {
    if (rank != 1 || len != n)
      throw UserError(g.where(name) + ": has " + std::to_string(len) + " values in " + std::to_string(rank) +
                      " dimension(s); expected a 1-D dataset of " + std::to_string(n) + " values like " +
                      g.where("instruction") + " (the file is inconsistent; regenerate it)");
  };
  check_len("response", response.size(), 1);
  check_len("answer", answer.size(), 1);
  check_len("task", task.size(), task_dims.size());
  check_len("quality", quality.size(), quality_dims.size());

  std::vector<Sample> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (task[i] < 0 || static_cast<size_t>(task[i]) >= n_tasks)
      throw UserError(g.where("task") + ": value " + std::to_string(task[i]) + " at index " + std::to_string(i) +
                      " is not a task index; expected [0, " + std::to_string(n_tasks) + ") for the " +
                      std::to_string(n_tasks) + " names in /tasks");
    // isfinite first: an ordered comparison with a NaN would trip the FE_INVALID trap.
    if (!(std::isfinite(quality[i]) && quality[i] >= 0.0f && quality[i] <= 1.0f))
      throw UserError(g.where("quality") + ": value at index " + std::to_string(i) + " is not a number in [0, 1]");
    out[i].instruction = instruction[i];
    out[i].response = response[i];
    out[i].answer = answer[i];
    out[i].task = task[i];
    out[i].quality = quality[i];
  }
  return out;
}

// HDF5 link names cannot hold '/' and "." means the group itself.
void check_client_names(const FederatedDataset& d) {
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < d.clients.size(); ++i) {
    const std::string& name = d.clients[i].name;
    if (name.empty() || name == "." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
      throw UserError("client " + std::to_string(i) + ": name '" + name +
                      "' cannot be stored; expected a non-empty name without '/' and other than '.'");
    if (!seen.insert(name).second)
      throw UserError("client " + std::to_string(i) + ": name '" + name +
                      "' is used by an earlier client; names must be unique");
  }
}

size_t count_links(const h5::Group& g) {
  H5G_info_t info;
  if (H5Gget_info(g.id(), &info) < 0) throw UserError(g.where() + ": cannot list group");
  return static_cast<size_t>(info.nlinks);
}

}  // namespace

size_t FederatedDataset::n_samples() const {
  size_t n = 0;
  for (const auto& c : clients) n += c.samples.size();
  return n;
}

void write_dataset(const FederatedDataset& d, const std::string& path) {
  check_client_names(d);
  for (const auto* split : {&d.test, &d.public_split})
    for (const auto& s : *split) FEDSIM_ASSERT(s.task >= 0 && static_cast<size_t>(s.task) < d.task_names.size());
  for (const auto& c : d.clients)
    for (const auto& s : c.samples)
      FEDSIM_ASSERT_MSG(s.task >= 0 && static_cast<size_t>(s.task) < d.task_names.size(),
                        c.name << ": task index " << s.task << " outside [0, " << d.task_names.size() << ")");

  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::set_format(root, kFormatKind, kFormatVersion);
  root.set_attr("name", d.name);
  root.set_attr("generator_yaml", d.generator_yaml);
  root.set_attr("n_clients", static_cast<int64_t>(d.clients.size()));
  root.write_strings("tasks", d.task_names);

  std::vector<std::string> order;
  order.reserve(d.clients.size());
  for (const auto& c : d.clients) order.push_back(c.name);
  root.write_strings("client_names", order);
  const h5::Group clients = root.create_group("clients");
  for (const auto& c : d.clients) write_samples(clients.create_group(c.name), c.samples);
  write_samples(root.create_group("test"), d.test);
  write_samples(root.create_group("public"), d.public_split);
  out.commit();
}

FederatedDataset read_dataset(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kFormatKind, kFormatVersion);
  const h5::Group root = f.root();

  FederatedDataset d;
  d.name = root.attr_string("name");
  d.generator_yaml = root.attr_string("generator_yaml");
  d.task_names = root.read_strings("tasks");
  const size_t n_tasks = d.task_names.size();

  const std::vector<std::string> order = root.read_strings("client_names");
  const int64_t n_clients = root.attr_int("n_clients");
  if (n_clients < 0 || static_cast<size_t>(n_clients) != order.size())
    throw UserError(root.where() + "@n_clients: " + std::to_string(n_clients) + " differs from the " +
                    std::to_string(order.size()) + " names in " + root.where("client_names") +
                    " (the file is inconsistent; regenerate it)");
  const h5::Group clients = root.open_group("clients");
  if (count_links(clients) != order.size())
    throw UserError(clients.where() + ": holds " + std::to_string(count_links(clients)) + " entries but " +
                    root.where("client_names") + " lists " + std::to_string(order.size()) + " clients");
  d.clients.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    d.clients[i].name = order[i];
    d.clients[i].samples = read_samples(clients.open_group(order[i]), n_tasks);
  }
  d.test = read_samples(root.open_group("test"), n_tasks);
  d.public_split = read_samples(root.open_group("public"), n_tasks);
  return d;
}

}  // namespace fedsim::datasets
