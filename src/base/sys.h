// base/sys.h: what the process costs the machine (declared in the public mnemo/util.h).
#pragma once

#include "mnemo/util.h"
