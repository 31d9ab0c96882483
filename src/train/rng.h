// train/rng.h: training's generator is the project's (base/rng.h).
#pragma once

#include "base/rng.h"

namespace mnemo::train {
using mnemo::Rng;
using mnemo::splitmix64;
}  // namespace mnemo::train
