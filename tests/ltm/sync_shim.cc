#include "sync_shim.h"

#include <sqlite3.h>

#include <cstring>

namespace mnemo::ltm::test {
namespace {

std::mutex g_mu;
std::vector<SyncEvent> g_log;
sqlite3_vfs* g_base = nullptr;
sqlite3_vfs g_vfs;

struct ShimFile {
  sqlite3_file base;           // must be first: SQLite sees a ShimFile as a sqlite3_file
  sqlite3_file* real;          // the wrapped file, allocated after this struct
  std::string* path;
};

void log_event(SyncEvent::Kind k, const std::string& path) {
  std::lock_guard lock(g_mu);
  g_log.push_back({k, path});
}

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

int x_close(sqlite3_file* f) {
  ShimFile* s = reinterpret_cast<ShimFile*>(f);
  int rc = s->real->pMethods ? s->real->pMethods->xClose(s->real) : SQLITE_OK;
  delete s->path;
  return rc;
}
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) { return real(f)->pMethods->xRead(real(f), p, n, off); }
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  log_event(SyncEvent::kWrite, *reinterpret_cast<ShimFile*>(f)->path);
  return real(f)->pMethods->xWrite(real(f), p, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return real(f)->pMethods->xTruncate(real(f), size); }
int x_sync(sqlite3_file* f, int flags) {
  int rc = real(f)->pMethods->xSync(real(f), flags);
  if (rc == SQLITE_OK) log_event(SyncEvent::kSync, *reinterpret_cast<ShimFile*>(f)->path);
  return rc;
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
int x_fcntl(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
int x_sector(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_devchar(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
  return real(f)->pMethods->xShmMap(real(f), pg, sz, extend, pp);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), off, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) { return real(f)->pMethods->xFetch(real(f), off, n, pp); }
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real(f)->pMethods->xUnfetch(real(f), off, p); }

const sqlite3_io_methods kMethods = {3,          x_close,      x_read,   x_write,      x_truncate,   x_sync,
                                     x_file_size, x_lock,      x_unlock, x_check,      x_fcntl,      x_sector,
                                     x_devchar,  x_shm_map,    x_shm_lock, x_shm_barrier, x_shm_unmap, x_fetch,
                                     x_unfetch};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  ShimFile* s = reinterpret_cast<ShimFile*>(f);
  s->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + sizeof(ShimFile));
  s->path = new std::string(name ? name : "");
  s->base.pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, s->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    delete s->path;
    return rc;
  }
  s->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* n, int sync) { return g_base->xDelete(g_base, n, sync); }
int x_access(sqlite3_vfs*, const char* n, int flags, int* out) { return g_base->xAccess(g_base, n, flags, out); }
int x_fullpath(sqlite3_vfs*, const char* n, int len, char* out) { return g_base->xFullPathname(g_base, n, len, out); }
void* x_dlopen(sqlite3_vfs*, const char* n) { return g_base->xDlOpen(g_base, n); }
void x_dlerror(sqlite3_vfs*, int n, char* msg) { g_base->xDlError(g_base, n, msg); }
void (*x_dlsym(sqlite3_vfs*, void* h, const char* s))(void) { return g_base->xDlSym(g_base, h, s); }
void x_dlclose(sqlite3_vfs*, void* h) { g_base->xDlClose(g_base, h); }
int x_random(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int x_time(sqlite3_vfs*, double* t) { return g_base->xCurrentTime(g_base, t); }
int x_lasterr(sqlite3_vfs*, int n, char* s) { return g_base->xGetLastError(g_base, n, s); }
int x_time64(sqlite3_vfs*, sqlite3_int64* t) { return g_base->xCurrentTimeInt64(g_base, t); }

}  // namespace

bool register_sync_shim(const char* name) {
  std::lock_guard lock(g_mu);
  if (sqlite3_vfs_find(name) != nullptr) return true;
  g_base = sqlite3_vfs_find(nullptr);
  if (g_base == nullptr) return false;
  std::memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_base->szOsFile;
  g_vfs.mxPathname = g_base->mxPathname;
  g_vfs.zName = name;
  g_vfs.xOpen = x_open;
  g_vfs.xDelete = x_delete;
  g_vfs.xAccess = x_access;
  g_vfs.xFullPathname = x_fullpath;
  g_vfs.xDlOpen = x_dlopen;
  g_vfs.xDlError = x_dlerror;
  g_vfs.xDlSym = x_dlsym;
  g_vfs.xDlClose = x_dlclose;
  g_vfs.xRandomness = x_random;
  g_vfs.xSleep = x_sleep;
  g_vfs.xCurrentTime = x_time;
  g_vfs.xGetLastError = x_lasterr;
  g_vfs.xCurrentTimeInt64 = x_time64;
  return sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
}

std::vector<SyncEvent> sync_events(size_t from) {
  std::lock_guard lock(g_mu);
  if (from >= g_log.size()) return {};
  return std::vector<SyncEvent>(g_log.begin() + static_cast<std::ptrdiff_t>(from), g_log.end());
}

size_t sync_event_count() {
  std::lock_guard lock(g_mu);
  return g_log.size();
}

}  // namespace mnemo::ltm::test
