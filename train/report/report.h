// SPDX-License-Identifier: Apache-2.0
// `leseg report RUN_DIR [RUN_DIR...]`: one self-contained HTML file (every figure embedded as a PNG data URI,
// no script, opens from disk) plus the same figures as PNG files, for one run or several overlaid:
//   - training curves from metrics.jsonl: total loss and every loss term, learning rates, gradient norm,
//     evaluation mIoU / accuracy (and any other numeric key a regime logs in its train or eval records —
//     second-network metrics, mechanism statistics), throughput (steps/s and points/s from elapsed_s);
//   - per-class IoU bars (last evaluation of each run, grouped by run) and, when the run folder has a
//     checkpoint and its config's data.root is readable, a row-normalised confusion matrix computed by
//     predicting the validation scenes, and renders of the first `scenes` of them: ground truth, prediction,
//     error map (wrong points red) from an oblique viewpoint and top-down; when a scene has views, the view
//     image next to its CLIP-like labels, SAM masks and the projected prediction;
//   - the run's config.yaml, run.json (command line, git revision, host, start time; written by `leseg
//     train`) and wall times.
// Anything a run folder lacks is said in the report (a visible note), never silently left out; a folder
// without metrics.jsonl is an error naming it.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace leseg::train::report {

struct ReportOptions {
  std::string out_dir;                 // default: <first run>/report
  int scenes = 2;                      // validation scenes rendered per run
  int max_eval_scenes = 64;            // validation scenes predicted for the confusion matrix (-1 = all)
  bool predict = true;                 // false: curves and IoU bars only (no checkpoint / data needed)
  std::vector<std::string> overrides;  // key=value applied to each run's config.yaml (e.g. data.root=...)
  int width = 560;                     // figure width in pixels
};

struct ReportResult {
  std::string html_path;
  std::vector<std::string> png_paths;
  std::vector<std::string> notes;  // what could not be drawn and why
};

ReportResult write_report(const std::vector<std::string>& run_dirs, const ReportOptions& opt);

// Parsed metrics.jsonl: records by type; error names file and line for invalid JSON.
struct RunLog {
  std::string dir, name;
  std::vector<nlohmann::json> train, eval, end;
  std::vector<std::string> classes;  // class order of the last eval record's "iou" object (class-id order)
};
RunLog read_run_log(const std::string& run_dir);

// run.json for a run folder: command line, git revision (`git describe --always --dirty` in the working
// directory, else "unknown"), host name, CPU model, start time (UTC, ISO 8601).
nlohmann::json run_info(const std::vector<std::string>& argv);
// Writes <run_dir>/run.json; when it exists (a resumed run), keeps it and appends this invocation to "resumes".
void write_run_info(const std::string& run_dir, const std::vector<std::string>& argv);

}  // namespace leseg::train::report
