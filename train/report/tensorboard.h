// SPDX-License-Identifier: Apache-2.0
// TensorBoard event files (`train.tensorboard: true`): <run>/tensorboard/events.out.tfevents.<time>.<host>,
// so a run's scalars appear in TensorBoard next to PyTorch runs. Each record is TFRecord-framed:
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | Event protobuf | uint32 masked CRC32C of it
// (mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8). The first Event carries file_version "brain.Event:2"; each
// scalar is an Event with wall_time, step and a Summary value {tag, simple_value}. The Event message is
// serialised by the protobuf library from train/report/tensorboard_event.proto (a subset of TensorFlow's).
// Builds without protobuf (LESEG_WITH_PROTOBUF=0) keep everything else; creating a writer there fails with an
// error saying how to enable it.
//
// Tags from the Trainer's metrics records (tensorboard_tags): train records -> train/loss, train/<term>
// (loss terms), train/lr/<optimizer>, train/grad_norm and any other numeric key as train/<key>; eval records
// -> eval/miou, eval/accuracy, eval/iou/<class> and other numeric keys as eval/<key>.
#pragma once
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace leseg::train::report {

bool tensorboard_available();  // built with protobuf

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t masked_crc32c(const void* data, size_t n);

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it; error (naming the file) when it cannot, or when built without protobuf.
  explicit TensorBoardWriter(const std::string& dir);
  void scalar(const std::string& tag, int64_t step, double value, double wall_time = -1);  // wall_time < 0: now
  // Every scalar of a metrics record (see tensorboard_tags) at the record's "step".
  void record(const nlohmann::json& rec);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& bytes);
  std::ofstream out_;
  std::string path_;
};

// (tag, value) pairs of a Trainer metrics record; empty for other record types.
std::vector<std::pair<std::string, double>> tensorboard_tags(const nlohmann::json& rec);

// One scalar read back from an event file (tests, `leseg report` could use it).
struct EventScalar {
  std::string tag;
  int64_t step = 0;
  double wall_time = 0;
  float value = 0;
};
// Parses an event file, checking every record's CRCs; error names the file and the record's offset.
std::vector<EventScalar> read_tensorboard_scalars(const std::string& path);

}  // namespace leseg::train::report
