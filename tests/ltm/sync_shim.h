// tests/ltm/sync_shim.h: an SQLite VFS that wraps the default one and logs every write and sync
// of every file, in order, so a test can show that the WAL was synced after the last write of a
// commit and before the caller was told the commit succeeded.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mnemo::ltm::test {

struct SyncEvent {
  enum Kind { kWrite, kSync } kind;
  std::string file;  // the file's path
};

// Registers the VFS under `name` (idempotent). Returns false on failure.
bool register_sync_shim(const char* name);
// A copy of the log from position `from`, and the current length.
std::vector<SyncEvent> sync_events(size_t from = 0);
size_t sync_event_count();

}  // namespace mnemo::ltm::test
