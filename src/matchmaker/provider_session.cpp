#include "ravnest/matchmaker/provider_session.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "comm/stream/stream_socket.h"  // splitHostPort
#include "matchmaker.grpc.pb.h"
#include "matchmaker/artifact_files.h"
#include "matchmaker/link_probe.h"
#include "matchmaker/matchmaker_channel.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest {
using detail::concat;
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace mm = matchmaking;

constexpr double kCallTimeoutS = 10;
// How long the end of training may wait to be told to the matchmaker.
constexpr double kFinishTimeoutS = 5;
constexpr double kMaxBackOffS = 30;
constexpr int kFetchAttempts = 3;
constexpr double kUploadProbeSeconds = 0.5;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The local address this machine uses to reach `address`: what peers should dial to reach it too.
std::string localAddressTowards(const std::string& address) {
  const auto [host, port] = detail::splitHostPort(address);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  RAVNEST_CHECK_AS(NetworkError, ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0,
                   "cannot resolve the matchmaker's host ", host);
  std::string local;
  for (addrinfo* a = found; a && local.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage mine{};
    socklen_t length = sizeof mine;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = mine.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&mine)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&mine)->sin_addr);
      if (::inet_ntop(mine.ss_family, raw, text, sizeof text)) local = text;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  RAVNEST_CHECK_AS(NetworkError, !local.empty(), "cannot find a local address that reaches ", address);
  return local;
}

// <host>-<port>, with what a provider name may not hold (an IPv6 address's ':') replaced by '.'.
std::string defaultName(const std::string& host, int port) {
  std::string name = concat(host, "-", port);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '.';
  }
  return name;
}

}  // namespace

struct ProviderSession::Impl {
  ProviderSessionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<mm::Matchmaker::Stub> stub;
  std::string name, host;
  int port = 0;
  uint64_t session = 0;
  ProviderProfile profile;
  double rttMs = 0, bandwidthMbps = 0;
  std::unique_ptr<detail::ProbeListener> listener;
  double heartbeatInterval = 1;

  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  std::string state = "idle";
  std::string role;
  std::map<std::string, double> figures;
  std::vector<mm::PeerLink> links;
  std::deque<std::string> progress;
  std::optional<ProviderAssignment> assignment;
  std::string failure;
  // Probes and fetches run on a worker of their own, so that heartbeats go on while they take their time.
  std::deque<mm::HeartbeatReply> work;
  bool fetching = false;  // an assignment is queued or being fetched
  std::thread heartbeats;
  std::thread worker;

  std::string address() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }

  void say(const std::string& line) {
    {
      std::lock_guard lock(mutex);
      progress.push_back(line);
    }
    changed.notify_all();
  }

  // Waits `seconds` unless stopping; true when stopping.
  bool sleepFor(double seconds) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stopping; });
  }

  void measureMatchmakerLink() {
    std::vector<double> trips;
    for (int i = 0; i < 5; ++i) {
      grpc::ClientContext context;
      detail::prepareCall(context, options.matchmaker, kCallTimeoutS);
      mm::EchoMessage request, reply;
      request.set_payload("r");
      const auto start = Clock::now();
      detail::throwIfFailed(stub->Echo(&context, request, &reply), options.matchmaker, "round trip");
      trips.push_back(secondsSince(start) * 1e3);
    }
    std::sort(trips.begin(), trips.end());
    rttMs = trips[trips.size() / 2];
    grpc::ClientContext context;
    detail::prepareCall(context, options.matchmaker, kCallTimeoutS + kUploadProbeSeconds);
    mm::UploadSummary summary;
    auto writer = stub->Upload(&context, &summary);
    mm::EchoMessage piece;
    piece.set_payload(std::string(1 << 16, 'r'));
    const auto start = Clock::now();
    while (secondsSince(start) < kUploadProbeSeconds && writer->Write(piece)) {
    }
    writer->WritesDone();
    detail::throwIfFailed(writer->Finish(), options.matchmaker, "bandwidth probe");
    bandwidthMbps = summary.bandwidth_mbps();
  }

  void join() {
    mm::JoinRequest request;
    request.set_name(name);
    request.set_session(session);
    request.set_address(address());
    auto* p = request.mutable_profile();
    p->set_ram_gb(profile.ramGb);
    p->set_matmul_gflops(profile.matmulGflops);
    p->set_conv_gflops(profile.convGflops);
    p->set_gpu(profile.gpu);
    p->set_gpu_gflops(profile.gpuGflops);
    p->set_cpu_cores(profile.cpuCores);
    p->set_rtt_ms(rttMs);
    p->set_bandwidth_mbps(bandwidthMbps);
    p->set_benchmark_ram_gb(options.benchmarkRamGb);
    p->set_benchmark_bandwidth_mbps(options.benchmarkBandwidthMbps);
    grpc::ClientContext context;
    detail::prepareCall(context, options.matchmaker, kCallTimeoutS);
    mm::JoinReply reply;
    detail::throwIfFailed(stub->Join(&context, request, &reply), options.matchmaker, "join as " + name);
    heartbeatInterval = reply.heartbeat_interval_s() > 0 ? reply.heartbeat_interval_s() : 1.0;
  }

  // Writes one artifact into node_data/ after checking it; throws ProtocolError when it arrives corrupt.
  void fetch(uint64_t job, const mm::ArtifactInfo& info, const fs::path& nodeData) {
    detail::checkArtifactPath(info.path());
    const fs::path target = nodeData / info.path();
    fs::create_directories(target.parent_path());
    const std::string partial = target.string() + ".partial";
    grpc::ClientContext context;
    detail::prepareCall(context, options.matchmaker, detail::transferSeconds(info.size()));
    mm::FetchRequest request;
    request.set_job(job);
    request.set_name(name);
    request.set_session(session);
    request.set_path(info.path());
    auto reader = stub->Fetch(&context, request);
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    RAVNEST_CHECK_AS(ConfigError, out, "cannot write ", partial);
    detail::Sha256 sha;
    uint64_t received = 0;
    mm::ArtifactChunk chunk;
    while (reader->Read(&chunk)) {
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      sha.add(chunk.data().data(), chunk.data().size());
      received += chunk.data().size();
    }
    out.close();
    detail::throwIfFailed(reader->Finish(), options.matchmaker, "fetch " + info.path());
    const std::string actual = sha.hex();
    if (received != info.size() || actual != info.sha256()) {
      std::remove(partial.c_str());
      throw ProtocolError(concat(name, ": artifact ", info.path(), " arrived corrupt (", received, " of ",
                                 info.size(), " bytes, SHA-256 ", actual, ", expected ", info.sha256(), ")"));
    }
    fs::rename(partial, target);
  }

  void fetchAll(const mm::Assignment& given) {
    const fs::path nodeData = fs::path(options.workDir) / "node_data";
    for (const auto& info : given.artifacts()) {
      for (int attempt = 1;; ++attempt) {
        try {
          fetch(given.job(), info, nodeData);
          break;
        } catch (const ProtocolError& error) {
          if (attempt == kFetchAttempts) throw;
          logger("provider")->warn("{}; fetching it again ({} of {})", error.what(), attempt + 1, kFetchAttempts);
        }
      }
    }
    listener.reset();  // the port is the node's now
    {
      std::lock_guard lock(mutex);
      assignment = ProviderAssignment{given.job(), given.node_name(), nodeData.string()};
      state = "training";
    }
    say(concat(name, ": assigned to job ", given.job(), " as ", given.node_name(), "; ", given.artifacts_size(),
               " artifact(s) checked and written to ", nodeData.string()));
  }

  void runProbes(const mm::HeartbeatReply& reply) {
    for (const auto& task : reply.probes()) {
      {
        std::lock_guard lock(mutex);
        state = "probing";
      }
      mm::PeerLink link;
      link.set_peer(task.peer());
      try {
        const auto figures = detail::probeLink(task.address(), options.matchmaker.token);
        link.set_rtt_ms(figures.rttMs);
        link.set_bandwidth_mbps(figures.bandwidthMbps);
        say(concat(name, ": link to ", task.peer(), ": ", figures.rttMs, " ms round trip, ", figures.bandwidthMbps,
                   " Mbit/s"));
      } catch (const Error& error) {
        link.set_error(error.what());
        logger("provider")->warn("{}: probe of {} failed: {}", name, task.peer(), error.what());
      }
      std::lock_guard lock(mutex);
      links.push_back(link);
    }
    std::lock_guard lock(mutex);
    if (state == "probing") state = "idle";
  }

  void heartbeatLoop() {
    double backOff = 0;
    bool complained = false;
    while (!sleepFor(backOff > 0 ? backOff : heartbeatInterval)) {
      mm::HeartbeatRequest request;
      {
        std::lock_guard lock(mutex);
        request.set_name(name);
        request.set_session(session);
        request.set_state(state);
        request.set_role(role);
        for (const auto& link : links) *request.add_links() = link;
        for (const auto& [key, value] : figures) (*request.mutable_figures())[key] = value;
      }
      grpc::ClientContext context;
      detail::prepareCall(context, options.matchmaker, kCallTimeoutS, true);
      mm::HeartbeatReply reply;
      const grpc::Status status = stub->Heartbeat(&context, request, &reply);
      try {
        if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
          join();  // the matchmaker forgot this provider (its state was removed): join again
          continue;
        }
        detail::throwIfFailed(status, options.matchmaker, "heartbeat");
      } catch (const Error& error) {
        if (!complained) {
          logger("provider")->warn("{}: {}; training goes on, retrying with back-off", name, error.what());
          complained = true;
        }
        backOff = std::min(kMaxBackOffS, std::max(1.0, backOff * 2));
        continue;
      }
      if (complained) logger("provider")->info("{}: the matchmaker answers again", name);
      complained = false;
      backOff = 0;
      {
        std::lock_guard lock(mutex);
        links.erase(links.begin(), links.begin() + std::min<int>(request.links_size(), links.size()));
      }
      const bool newAssignment = reply.has_assignment() && reply.assignment().job() != 0;
      {
        std::lock_guard lock(mutex);
        if (reply.probes_size() == 0 && !(newAssignment && !fetching && !assignment)) continue;
        if (newAssignment && !fetching && !assignment) {
          fetching = true;
        } else {
          reply.clear_assignment();
        }
        work.push_back(std::move(reply));
      }
      changed.notify_all();
    }
  }

  void workLoop() {
    for (;;) {
      mm::HeartbeatReply reply;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [this] { return stopping || !work.empty(); });
        if (stopping) return;
        reply = std::move(work.front());
        work.pop_front();
      }
      try {
        runProbes(reply);
        if (reply.has_assignment()) fetchAll(reply.assignment());
      } catch (const Error& error) {
        {
          std::lock_guard lock(mutex);
          failure = error.what();
        }
        changed.notify_all();
      }
    }
  }

  void stopThreads() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    if (heartbeats.joinable()) heartbeats.join();
    if (worker.joinable()) worker.join();
  }
};

ProviderSession::ProviderSession(const ProviderSessionOptions& options, double joinTimeoutS)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  s.channel = detail::matchmakerChannel(options.matchmaker);
  s.stub = mm::Matchmaker::NewStub(s.channel);
  s.session = std::random_device{}() * (uint64_t{1} << 32) + std::random_device{}();
  const auto start = Clock::now();
  double backOff = 1;
  for (;;) {
    try {
      if (s.host.empty()) {
        s.host =
            options.advertiseHost.empty() ? localAddressTowards(options.matchmaker.address) : options.advertiseHost;
      }
      if (!s.listener) {
        // Every interface: behind a forwarded port the announced address is not one of this machine's.
        s.listener = std::make_unique<detail::ProbeListener>("", options.port, options.matchmaker.token);
        s.port = s.listener->port();
        s.name = options.name.empty() ? defaultName(s.host, s.port) : options.name;
        s.profile = options.profile ? *options.profile : measureProvider();
      }
      s.measureMatchmakerLink();
      s.join();
      break;
    } catch (const AuthenticationError&) {
      throw;
    } catch (const InvalidArgumentError&) {
      throw;
    } catch (const NetworkError& error) {
      if (joinTimeoutS > 0 && secondsSince(start) + backOff > joinTimeoutS) {
        throw TimeoutError(concat("no matchmaker answered at ", options.matchmaker.address, " within ", joinTimeoutS,
                                  " s: ", error.what()));
      }
      logger("provider")->warn("{}; retrying in {:.0f} s", error.what(), backOff);
      std::this_thread::sleep_for(std::chrono::duration<double>(backOff));
      backOff = std::min(kMaxBackOffS, backOff * 2);
    }
  }
  s.say(
      concat(s.name, ": joined ", options.matchmaker.address, " from ", s.address(), " (", s.profile.ramGb,
             " GB free, ", s.profile.matmulGflops, " GFLOP/s matmul, ", s.profile.convGflops, " GFLOP/s conv",
             s.profile.gpu.empty() ? std::string() : concat(", ", s.profile.gpu, " ", s.profile.gpuGflops, " GFLOP/s"),
             "; ", s.rttMs, " ms, ", s.bandwidthMbps, " Mbit/s to the matchmaker); waiting for a job"));
  s.heartbeats = std::thread([&s] { s.heartbeatLoop(); });
  s.worker = std::thread([&s] { s.workLoop(); });
}

ProviderSession::~ProviderSession() { impl_->stopThreads(); }

const std::string& ProviderSession::name() const { return impl_->name; }
std::string ProviderSession::address() const { return impl_->address(); }
const ProviderProfile& ProviderSession::profile() const { return impl_->profile; }

ProviderAssignment ProviderSession::waitForAssignment(double timeoutS,
                                                      const std::function<void(const std::string&)>& progress) {
  Impl& s = *impl_;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeoutS > 0 ? timeoutS : 1e9));
  std::unique_lock lock(s.mutex);
  for (;;) {
    while (!s.progress.empty()) {
      const std::string line = s.progress.front();
      s.progress.pop_front();
      lock.unlock();
      if (progress) progress(line);
      lock.lock();
    }
    if (!s.failure.empty()) throw NetworkError(s.failure);
    if (s.assignment) return *s.assignment;
    if (Clock::now() >= deadline) {
      throw TimeoutError(concat(s.name, ": no job was assigned within ", timeoutS, " s"));
    }
    s.changed.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::seconds(1)));
  }
}

void ProviderSession::setFigures(const std::map<std::string, double>& figures, const std::string& role) {
  std::lock_guard lock(impl_->mutex);
  impl_->figures = figures;
  impl_->role = role;
}

void ProviderSession::finish() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping) return;
    s.state = "finished";
  }
  s.stopThreads();
  mm::HeartbeatRequest request;
  request.set_name(s.name);
  request.set_session(s.session);
  request.set_state("finished");
  request.set_role(s.role);
  for (const auto& [key, value] : s.figures) (*request.mutable_figures())[key] = value;
  grpc::ClientContext context;
  detail::prepareCall(context, s.options.matchmaker, kFinishTimeoutS, true);
  mm::HeartbeatReply reply;
  const grpc::Status status = s.stub->Heartbeat(&context, request, &reply);
  if (!status.ok()) logger("provider")->info("{}: could not tell the matchmaker that training ended: {}", s.name,
                                   status.error_message());
}

}  // namespace ravnest
