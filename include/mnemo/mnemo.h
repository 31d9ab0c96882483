// mnemo/mnemo.h: the whole public API.
#pragma once

#include "mnemo/context.h"
#include "mnemo/engine.h"
#include "mnemo/model.h"
#include "mnemo/sampler.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"
#include "mnemo/util.h"
