// A tiny HTTP/1.1 server on 127.0.0.1 for the openai backend's tests: one connection at a time,
// `Connection: close`, bounded in requests and in wall time. A handler decides each reply from
// the request's index and body: a status and body, a delay (longer than the client's timeout to
// simulate one), or closing the connection without a reply.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace fedsim::test {

struct HttpReply {
  int status = 200;
  std::string body;
  int delay_ms = 0;         // wait before replying
  bool hang_up = false;     // close without a reply
};

class TestServer {
 public:
  using Handler = std::function<HttpReply(int index, const std::string& body)>;

  TestServer(Handler h, int max_requests, double max_seconds) : h_(std::move(h)), max_requests_(max_requests) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("bind/listen on 127.0.0.1 failed");
    port_ = ntohs(a.sin_port);
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(max_seconds));
    thread_ = std::thread([this] { loop(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }
  int requests() const { return count_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  bool expired() const { return stop_ || std::chrono::steady_clock::now() > deadline_; }

  void loop() {
    while (!expired() && count_ < max_requests_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
    ::close(fd_);  // later clients see "connection refused"
    fd_ = -1;
  }

  void serve(int c) {
    std::string in;
    char buf[4096];
    size_t need = std::string::npos;
    while (!expired()) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t got = ::recv(c, buf, sizeof buf, 0);
      if (got <= 0) return;
      in.append(buf, static_cast<size_t>(got));
      const size_t head = in.find("\r\n\r\n");
      if (head != std::string::npos && need == std::string::npos) {
        size_t cl = in.find("Content-Length:");
        if (cl == std::string::npos) cl = in.find("content-length:");
        need = head + 4 + (cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 15)));
      }
      if (need != std::string::npos && in.size() >= need) break;
    }
    if (need == std::string::npos || in.size() < need) return;
    const HttpReply r = h_(count_++, in.substr(in.find("\r\n\r\n") + 4));
    // Stall, but stop as soon as the client gives up (it closed: recv sees the end of stream),
    // so the next request finds the server free.
    for (int waited = 0; waited < r.delay_ms && !expired(); waited += 5) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5) > 0 && ::recv(c, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 0) return;
    }
    if (r.hang_up) return;
    const std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
    ::send(c, out.data(), out.size(), MSG_NOSIGNAL);  // the client may have timed out and gone
  }

  Handler h_;
  int max_requests_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> count_{0};
  std::atomic<bool> stop_{false};
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

// A chat-completions reply carrying `content`.
inline std::string chat_reply(const std::string& content_json_escaped) {
  return R"({"choices":[{"index":0,"message":{"role":"assistant","content":")" + content_json_escaped +
         R"("}}],"usage":{"prompt_tokens":10,"completion_tokens":5}})";
}

}  // namespace fedsim::test
