// SPDX-License-Identifier: Apache-2.0
// spiral [--epochs N] [--seed S] [--device cpu|cuda]: trains an MLP 2-64-64-2 on the two-class spiral
// and exits non-zero when the final training accuracy is below 97%.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "examples/spiral.h"

int main(int argc, char** argv) {
  leseg::examples::SpiralConfig cfg;
  std::string device = "cpu";
  CLI::App app{"Two-class spiral with an MLP 2-64-64-2 (leseg engine smoke test)"};
  app.add_option("--epochs", cfg.epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--seed", cfg.seed, "seed for data, init and shuffling");
  app.add_option("--device", device, "cpu or cuda[:i]");
  app.add_option("--lr", cfg.lr, "peak learning rate (Adam, cosine schedule)");
  CLI11_PARSE(app, argc, argv);
  try {
    cfg.device = leseg::Device::parse(device);
    leseg::examples::SpiralResult r = leseg::examples::train_spiral(cfg, &std::cout);
    std::printf("final training accuracy: %.2f%%\n", r.train_accuracy * 100.0);
    if (r.train_accuracy < 0.97) {
      std::fprintf(stderr, "spiral: accuracy %.2f%% is below 97%%\n", r.train_accuracy * 100.0);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spiral: %s\n", e.what());
    return 2;
  }
  return 0;
}
