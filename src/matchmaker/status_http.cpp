#include "matchmaker/status_http.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {

extern const unsigned char kStatusPage[];  // status_page.html, embedded at build time (cmake/EmbedFile.cmake)

namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kClientTimeoutMs = 5000;

// Writes the whole answer within kClientTimeoutMs, or gives up: one slow reader must not hold the only thread.
void sendAll(int fd, const std::string& data) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClientTimeoutMs);
  size_t sent = 0;
  while (sent < data.size()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLOUT, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return;
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string response(const char* status, const char* type, const std::string& body) {
  return concat("HTTP/1.1 ", status, "\r\nContent-Type: ", type, "\r\nContent-Length: ", body.size(),
                "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

StatusHttpServer::StatusHttpServer(const std::string& host, int port, std::function<std::string()> statusJson)
    : statusJson_(std::move(statusJson)),
      server_(host, port, "status page", "pass another --status-port, or -1 for none",
              [this](int fd) { answer(fd); }) {}

void StatusHttpServer::answer(int fd) {
  std::string request;
  char buffer[2048];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClientTimeoutMs);
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  const size_t lineEnd = request.find("\r\n");
  const std::string line = request.substr(0, lineEnd);
  const size_t space = line.find(' ');
  const size_t second = line.find(' ', space + 1);
  if (space == std::string::npos || second == std::string::npos) {
    sendAll(fd, response("400 Bad Request", "text/plain", "bad request\n"));
    return;
  }
  const std::string method = line.substr(0, space);
  std::string target = line.substr(space + 1, second - space - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    sendAll(fd, response("405 Method Not Allowed", "text/plain", "only GET\n"));
  } else if (target == "/" || target == "/index.html") {
    sendAll(fd, response("200 OK", "text/html; charset=utf-8", reinterpret_cast<const char*>(kStatusPage)));
  } else if (target == "/status.json") {
    sendAll(fd, response("200 OK", "application/json", statusJson_()));
  } else {
    sendAll(fd, response("404 Not Found", "text/plain", "not found: the status page is at /\n"));
  }
}

}  // namespace ravnest::detail
