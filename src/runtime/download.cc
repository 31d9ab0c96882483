// runtime/download.cc: HTTP(S) download with libcurl, resumable through a .part file.
#include "mnemo/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/file.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace mnemo {
namespace {

struct Transfer {
  int fd = -1;
  uint64_t offset = 0;  // bytes already in the .part file
  uint64_t received = 0;
  uint64_t total = 0;
  bool write_failed = false;
  const std::function<void(uint64_t, uint64_t)>* progress = nullptr;
};

size_t on_data(char* ptr, size_t size, size_t nmemb, void* user) {
  Transfer* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(t->fd, ptr + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t->write_failed = true;
      return 0;  // aborts the transfer
    }
    done += static_cast<size_t>(w);
  }
  t->received += n;
  if (t->progress && *t->progress) (*t->progress)(t->offset + t->received, t->total);
  return n;
}

int on_progress(void* user, curl_off_t dltotal, curl_off_t, curl_off_t, curl_off_t) {
  Transfer* t = static_cast<Transfer*>(user);
  if (dltotal > 0) t->total = t->offset + static_cast<uint64_t>(dltotal);
  return 0;
}

Expected<std::string> file_sha256(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return io_error(path + ": cannot open to checksum");
  Sha256 h;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) h.update(buf, n);
  std::fclose(f);
  return h.hex_digest();
}

}  // namespace

Status download_file(const DownloadParams& p, const std::function<void(uint64_t, uint64_t)>& progress) {
  if (p.url.empty()) return invalid_argument("pull: expected a URL");
  if (p.output.empty()) return invalid_argument("pull: expected an output path (-o)");
  if (!p.sha256.empty()) {
    if (p.sha256.size() != 64 || p.sha256.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return invalid_argument("--sha256: expected 64 hex digits, found '" + p.sha256 + "'");
    }
  }
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) return internal_error("libcurl failed to initialise");

  const std::string part = p.output + ".part";
  Transfer t;
  t.progress = &progress;
  t.fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (t.fd < 0) return io_error(part + ": cannot open for writing: " + std::strerror(errno));
  struct stat st;
  if (fstat(t.fd, &st) == 0) t.offset = static_cast<uint64_t>(st.st_size);

  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    ::close(t.fd);
    return internal_error("libcurl: cannot create a handle");
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, p.url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "mnemo/0.1");
  if (p.timeout_seconds > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, p.timeout_seconds);
  if (t.offset > 0) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(t.offset));

  CURLcode rc = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  if (rc == CURLE_RANGE_ERROR || (rc == CURLE_OK && t.offset > 0 && http == 200)) {
    // The server ignored or refused the range: start over.
    if (ftruncate(t.fd, 0) != 0) {
      curl_easy_cleanup(curl);
      ::close(t.fd);
      return io_error(part + ": cannot truncate: " + std::strerror(errno));
    }
    t.offset = 0;
    t.received = 0;
    curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(0));
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  }
  curl_easy_cleanup(curl);
  // 416: the range starts at the end, i.e. the .part file is already complete.
  if (rc == CURLE_HTTP_RETURNED_ERROR && http == 416 && t.offset > 0) rc = CURLE_OK;
  const bool synced = fsync(t.fd) == 0;
  ::close(t.fd);
  if (t.write_failed) return io_error(part + ": write failed (disk full?)");
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (http >= 400) why = str_printf("HTTP %ld", http);
    return io_error(p.url + ": download failed: " + why + " (partial data kept in " + part + "; run again to resume)");
  }
  if (!synced) return io_error(part + ": fsync failed");
  if (!p.sha256.empty()) {
    MNEMO_ASSIGN_OR_RETURN(std::string got, file_sha256(part));
    std::string want = p.sha256;
    for (char& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (got != want) {
      ::unlink(part.c_str());
      return corrupt(p.url + ": expected sha256 " + want + ", found " + got + " (download removed)");
    }
  }
  if (::rename(part.c_str(), p.output.c_str()) != 0) {
    return io_error(p.output + ": cannot rename from " + part + ": " + std::strerror(errno));
  }
  return sync_parent_dir(p.output);
}

}  // namespace mnemo
