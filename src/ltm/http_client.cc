#include "ltm/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "base/strings.h"

namespace mnemo::ltm {
namespace {

size_t write_cb(char* data, size_t size, size_t nmemb, void* user) {
  auto* out = static_cast<std::string*>(user);
  // Answers larger than 64 MiB are refused (an endpoint gone wrong must not exhaust memory).
  if (out->size() + size * nmemb > (64u << 20)) return 0;
  out->append(data, size * nmemb);
  return size * nmemb;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string join_url(const std::string& base, const std::string& path) {
  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  // Accept a base that already names the API version ("http://host/v1").
  if (ends_with(b, "/v1") && starts_with(path, "/v1/")) return b + path.substr(3);
  return b + path;
}

Expected<std::string> post_json(const std::string& url, const std::string& json_body, const std::string& api_key,
                                int timeout_ms) {
  global_init();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return internal_error(url + ": cannot create a curl handle");
  std::string body;
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string auth;
  if (!api_key.empty()) {
    auth = "Authorization: Bearer " + api_key;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return io_error(url + ": request failed, " + curl_easy_strerror(rc));
  if (status < 200 || status >= 300)
    return io_error(str_printf("%s: expected HTTP 2xx, got %ld: %s", url.c_str(), status,
                               quote_bytes(body, 200).c_str()));
  return body;
}

}  // namespace mnemo::ltm
