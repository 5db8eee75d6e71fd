#include "sim/results.hpp"

#include <filesystem>

#include "datasets/common/error.hpp"
#include "datasets/common/h5.hpp"

namespace fedsim::sim {

void write_results(const RunResults& r, const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::set_format(root, kResultsKind, kResultsFormatVersion);
  root.set_attr("fedsim_version", r.fedsim_version);
  root.set_attr("config_yaml", r.config_yaml);
  root.set_attr("seed", r.seed);
  root.set_attr("wall_total_s", r.wall_total_s);

  const h5::Group g = root.create_group("rounds");
  std::vector<int64_t> round;
  std::vector<double> sim_time, train_loss, eval_loss, eval_acc, wall;
  for (const auto& row : r.rounds) {
    round.push_back(row.round);
    sim_time.push_back(row.sim_time_s);
    train_loss.push_back(row.train_loss);
    eval_loss.push_back(row.eval_loss);
    eval_acc.push_back(row.eval_accuracy);
    wall.push_back(row.wall_s);
  }
  g.write("round", round);
  g.write("sim_time_s", sim_time);
  g.write("train_loss", train_loss);
  g.write("eval_loss", eval_loss);
  g.write("eval_accuracy", eval_acc);
  g.write("wall_s", wall);

  const size_t n_rounds = r.participation.size();
  const size_t m = n_rounds ? r.participation.front().size() : 0;
  std::vector<int32_t> part;
  part.reserve(n_rounds * m);
  for (const auto& p : r.participation) {
    FEDSIM_ASSERT_MSG(p.size() == m, "participation rows must have equal length");
    part.insert(part.end(), p.begin(), p.end());
  }
  root.write("participation", part, {static_cast<hsize_t>(n_rounds), static_cast<hsize_t>(m)});
  const h5::Group c = root.create_group("clients");
  c.write("n_samples", r.client_n_samples);
  out.commit();
}

RunResults read_results(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kResultsKind, kResultsFormatVersion);
  const h5::Group root = f.root();
  RunResults r;
  r.fedsim_version = root.attr_string("fedsim_version");
  r.config_yaml = root.attr_string("config_yaml");
  r.seed = root.attr_int("seed");
  r.wall_total_s = root.attr_double("wall_total_s");
  const h5::Group g = root.open_group("rounds");
  const auto round = g.read<int64_t>("round");
  const auto sim_time = g.read<double>("sim_time_s");
  const auto train_loss = g.read<double>("train_loss");
  const auto eval_loss = g.read<double>("eval_loss");
  const auto eval_acc = g.read<double>("eval_accuracy");
  const auto wall = g.read<double>("wall_s");
  const size_t n = round.size();
  if (sim_time.size() != n || train_loss.size() != n || eval_loss.size() != n || eval_acc.size() != n || wall.size() != n)
    throw UserError(g.where() + ": per-round datasets differ in length");
  for (size_t i = 0; i < n; ++i)
    r.rounds.push_back({round[i], sim_time[i], train_loss[i], eval_loss[i], eval_acc[i], wall[i]});
  std::vector<hsize_t> dims;
  const auto part = root.read<int32_t>("participation", &dims);
  if (dims.size() != 2) throw UserError(root.where("participation") + ": expected a 2-D dataset");
  for (hsize_t i = 0; i < dims[0]; ++i)
    r.participation.emplace_back(part.begin() + static_cast<long>(i * dims[1]), part.begin() + static_cast<long>((i + 1) * dims[1]));
  r.client_n_samples = root.open_group("clients").read<int64_t>("n_samples");
  return r;
}

}  // namespace fedsim::sim
