// SPDX-License-Identifier: Apache-2.0
// StateDict: name -> Tensor, ordered by name. The exchange type of Module::state_dict, optimizer state
// and checkpoints (safetensors files hold exactly one StateDict).
#pragma once
#include <map>
#include <string>

#include "engine/tensor.h"

namespace leseg {
using StateDict = std::map<std::string, Tensor>;
}  // namespace leseg
