// tests/server/http_client.h: a blocking HTTP/1.1 client for the server tests (loopback only):
// one request per connection ("Connection: close"), chunked bodies decoded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace mnemo::test {

struct HttpReply {
  int status = 0;  // 0: no answer (connection failed or closed early)
  std::string head;
  std::string body;  // chunked transfer decoded
  bool chunked = false;
};

inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

inline std::string request_bytes(const std::string& method, const std::string& path, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
  return r + "\r\n" + body;
}

inline std::string dechunk(const std::string& in) {
  std::string out;
  size_t p = 0;
  while (p < in.size()) {
    const size_t eol = in.find("\r\n", p);
    if (eol == std::string::npos) break;
    const size_t n = std::stoul(in.substr(p, eol - p), nullptr, 16);
    if (n == 0) break;
    out += in.substr(eol + 2, n);
    p = eol + 2 + n + 2;
  }
  return out;
}

inline HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  const size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.head = raw.substr(0, end);
  r.chunked = r.head.find("Transfer-Encoding: chunked") != std::string::npos;
  r.body = r.chunked ? dechunk(raw.substr(end + 4)) : raw.substr(end + 4);
  return r;
}

inline HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  int fd = connect_loopback(port);
  if (fd < 0) return {};
  send_all(fd, request_bytes(method, path, body, headers));
  std::string raw;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse_reply(raw);
}

}  // namespace mnemo::test
