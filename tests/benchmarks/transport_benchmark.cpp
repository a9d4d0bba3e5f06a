// Transport benchmark: ravnest's transport for pipeline messages (direct connections; --grpc: over gRPC)
// against baselines measured in the same run, between two processes on this machine over loopback.
//   1. Throughput of 64 MiB float32 tensors, against a plain TCP socket sending the same bytes. Each send waits
//      for the receiver's confirmation (PeerClient::flush), as the TCP baseline waits for its one-byte ack.
//   2. Round trip of a 1 KiB tensor (there and back through both nodes' inboxes), against a bare gRPC
//      unary ping carrying 1 KiB.
// Run: build/tests/benchmarks/ravnest_transport_benchmark [--rounds N] [--grpc]
// The parent process starts a copy of itself with --serve as the receiving peer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kBulkBytes = int64_t{64} << 20;
constexpr int64_t kSmallBytes = 1024;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// False when the peer closed the connection first.
bool readFully(int socket, void* buffer, size_t size) {
  auto* cursor = static_cast<char*>(buffer);
  while (size > 0) {
    const ssize_t got = recv(socket, cursor, size, 0);
    if (got <= 0) return false;
    cursor += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

void writeFully(int socket, const void* buffer, size_t size) {
  const auto* cursor = static_cast<const char*>(buffer);
  while (size > 0) {
    const ssize_t sent = send(socket, cursor, size, MSG_NOSIGNAL);
    if (sent <= 0) throw std::runtime_error("tcp send failed");
    cursor += sent;
    size -= static_cast<size_t>(sent);
  }
}

int listenOnLoopback(int* port) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(listener, 1) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return listener;
}

/// The baseline receiver: reads length-prefixed blobs into one buffer and acknowledges each with a byte.
void serveTcp(int listener) {
  const int connection = accept(listener, nullptr, nullptr);
  std::vector<char> buffer(kBulkBytes);
  uint64_t size = 0;
  while (readFully(connection, &size, sizeof(size)) && size <= buffer.size() &&
         readFully(connection, buffer.data(), size)) {
    const char ack = 1;
    writeFully(connection, &ack, 1);
  }
}

ravnest::TransportOptions transportOptions(bool grpc) {
  ravnest::TransportOptions options;
  if (grpc) options.ringPort = ravnest::TransportOptions::kNoRingConnections;
  return options;
}

/// Child process: a ravnest peer that drains bulk messages (activations) and echoes gradients back to the parent.
int serve(const std::string& echoTarget, bool grpc) {
  ravnest::PeerServer server("bench_receiver", "127.0.0.1:0", transportOptions(grpc));
  int tcpPort = 0;
  const int listener = listenOnLoopback(&tcpPort);
  std::printf("PORT %d TCP %d\n", server.port(), tcpPort);
  std::fflush(stdout);
  std::thread tcp([listener] { serveTcp(listener); });
  std::thread drain([&server] {
    for (;;) server.inbox(ravnest::MessageKind::kActivation).pop(std::chrono::seconds(1));
  });
  ravnest::PeerClient echo("bench_receiver", echoTarget, transportOptions(grpc));
  for (;;) {
    auto message = server.inbox(ravnest::MessageKind::kGradient).pop(std::chrono::seconds(1));
    if (message) echo.send(std::move(*message));
  }
}

struct Child {
  pid_t pid;
  int port;
  int tcpPort;
};

Child startChild(const char* self, int parentPort, bool grpc) {
  int pipeEnds[2];
  if (pipe(pipeEnds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipeEnds[1], STDOUT_FILENO);
    const std::string target = "127.0.0.1:" + std::to_string(parentPort);
    execl(self, self, "--serve", target.c_str(), grpc ? "--grpc" : "--direct", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipeEnds[1]);
  FILE* output = fdopen(pipeEnds[0], "r");
  Child child{pid, 0, 0};
  if (std::fscanf(output, "PORT %d TCP %d", &child.port, &child.tcpPort) != 2) {
    throw std::runtime_error("benchmark peer did not start");
  }
  return child;
}

/// The baseline sender: one connection, length-prefixed blobs, each acknowledged before the next.
class TcpSender {
 public:
  explicit TcpSender(int port) : socket_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(socket_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("cannot connect to the tcp baseline");
    }
    const int one = 1;
    setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TcpSender() { close(socket_); }

  void send(const at::Tensor& payload) {
    const uint64_t size = static_cast<uint64_t>(payload.nbytes());
    writeFully(socket_, &size, sizeof(size));
    writeFully(socket_, payload.data_ptr(), size);
    char ack = 0;
    if (!readFully(socket_, &ack, 1)) throw std::runtime_error("the tcp baseline peer went away");
  }

 private:
  int socket_;
};

/// Bytes per second of `iterations` calls of `sendOnce`, each moving `bytes`.
template <typename Send>
double throughput(Send&& sendOnce, int64_t bytes, int iterations) {
  const auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) sendOnce();
  return static_cast<double>(bytes) * iterations / secondsSince(start);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// Median seconds of a 1 KiB tensor sent to the peer, echoed back and popped from our own inbox.
double ravnestRoundTrip(const ravnest::PeerClient& client, ravnest::PeerServer& self, int iterations) {
  const at::Tensor payload = at::randn({kSmallBytes / 4});
  std::vector<double> seconds;
  for (int i = 0; i < iterations; ++i) {
    ravnest::Message message;
    message.kind = ravnest::MessageKind::kGradient;
    message.id = static_cast<uint64_t>(i);
    message.tensors.push_back({"x", payload});
    const auto start = Clock::now();
    client.send(std::move(message));
    auto echoed = self.inbox(ravnest::MessageKind::kGradient).pop(std::chrono::seconds(10));
    if (!echoed || echoed->id != static_cast<uint64_t>(i)) throw std::runtime_error("echo lost");
    seconds.push_back(secondsSince(start));
  }
  return median(seconds);
}

/// Median seconds of a bare gRPC unary call carrying 1 KiB each way.
double grpcPingRoundTrip(const ravnest::PeerClient& client, int iterations) {
  const std::string payload(kSmallBytes, 'p');
  std::vector<double> seconds;
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    client.ping(payload);
    seconds.push_back(secondsSince(start));
  }
  return median(seconds);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--serve") return serve(argv[2], std::string(argv[3]) == "--grpc");
  int rounds = 5;
  bool grpc = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    if (std::string(argv[i]) == "--grpc") grpc = true;
  }
  constexpr int kSendsPerRound = 4;
  constexpr int kRoundTripsPerRound = 200;

  ravnest::PeerServer self("bench_sender", "127.0.0.1:0", transportOptions(grpc));
  const Child child = startChild("/proc/self/exe", self.port(), grpc);
  ravnest::PeerClient client("bench_sender", "127.0.0.1:" + std::to_string(child.port), transportOptions(grpc));
  TcpSender tcp(child.tcpPort);
  const at::Tensor bulk = at::randn({kBulkBytes / 4});
  auto sendTcp = [&] { tcp.send(bulk); };
  auto sendRavnest = [&] {
    ravnest::Message message;
    message.tensors.push_back({"activations", bulk});
    client.send(std::move(message));
    client.flush();
  };
  // Warm-up: connections, buffers, the receiver's pool.
  sendTcp();
  sendRavnest();
  grpcPingRoundTrip(client, 20);
  ravnestRoundTrip(client, self, 20);

  // Baseline and ours alternate round by round, so drifts in machine speed hit both alike.
  std::vector<double> tcpRates, ourRates, rateRatios, pingTimes, echoTimes, timeRatios;
  for (int round = 0; round < rounds; ++round) {
    tcpRates.push_back(throughput(sendTcp, kBulkBytes, kSendsPerRound));
    ourRates.push_back(throughput(sendRavnest, kBulkBytes, kSendsPerRound));
    rateRatios.push_back(ourRates.back() / tcpRates.back());
    pingTimes.push_back(grpcPingRoundTrip(client, kRoundTripsPerRound));
    echoTimes.push_back(ravnestRoundTrip(client, self, kRoundTripsPerRound));
    timeRatios.push_back(echoTimes.back() / pingTimes.back());
  }
  kill(child.pid, SIGKILL);
  waitpid(child.pid, nullptr, 0);

  std::printf("ravnest path: %s\n", grpc ? "gRPC (--grpc)" : "direct connections");
  std::printf("64 MiB float32 tensors between two processes over loopback (median of %d rounds of %d sends)\n",
              rounds, kSendsPerRound);
  std::printf("  raw TCP socket       %8.1f MB/s\n", median(tcpRates) / 1e6);
  std::printf("  ravnest transport    %8.1f MB/s\n", median(ourRates) / 1e6);
  std::printf("  ratio ravnest/tcp    %8.2f x   (bar: >= 0.85; per-round min %.2f, max %.2f)\n", median(rateRatios),
              *std::min_element(rateRatios.begin(), rateRatios.end()),
              *std::max_element(rateRatios.begin(), rateRatios.end()));
  std::printf("1 KiB round trip (median of %d rounds of %d)\n", rounds, kRoundTripsPerRound);
  std::printf("  bare gRPC unary ping %8.1f us\n", median(pingTimes) * 1e6);
  std::printf("  ravnest tensor echo  %8.1f us   (there and back through both nodes' inboxes: two transfers)\n",
              median(echoTimes) * 1e6);
  std::printf("  ratio ravnest/ping   %8.2f x   (bar: <= 1.5)\n", median(timeRatios));
  return 0;
}
