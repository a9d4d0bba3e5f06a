#include "ravnest/matchmaker/matchmaker_server.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "comm/grpc/tls_credentials.h"
#include "matchmaker/matchmaker_service.h"
#include "matchmaker/matchmaker_state.h"
#include "matchmaker/status_http.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest {

namespace {
// How often jobs are moved along and silent peers noticed.
constexpr auto kTickInterval = std::chrono::milliseconds(200);
// Artifacts travel in 1 MiB chunks; a little room for the rest of the message.
constexpr int kMaxMessageBytes = 4 << 20;
}  // namespace

struct MatchmakerServer::Impl {
  explicit Impl(const MatchmakerOptions& options)
      : options(options), state(options, detail::unixNow()), service(state, options.token) {}

  MatchmakerOptions options;
  detail::MatchmakerState state;
  detail::MatchmakerService service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<detail::StatusHttpServer> status;
  int port = 0;
  std::string statusAddress;  // set once the status page listens, before any request can ask for it
  std::mutex mutex;
  std::condition_variable stopped;
  bool stopping = false;
  bool stopped_ = false;  // shutdown() finished: the servers are down
  std::thread ticker;
};

MatchmakerServer::MatchmakerServer(const MatchmakerOptions& options) : impl_(std::make_unique<Impl>(options)) {
  TransportOptions tls;
  tls.tlsCertFile = options.tlsCertFile;
  tls.tlsKeyFile = options.tlsKeyFile;
  grpc::ServerBuilder builder;
  const std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  builder.AddListeningPort(host + ":" + std::to_string(options.port), detail::serverCredentials(tls), &impl_->port);
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  impl_->server = builder.BuildAndStart();
  RAVNEST_CHECK_AS(ConfigError, impl_->server && impl_->port > 0, "matchmaker: cannot listen on ", options.host, ":",
                   options.port, "; is another process using the port? Pass another --port");
  if (options.statusPort >= 0) {
    const int statusPort = options.statusPort > 0 ? options.statusPort : (options.port > 0 ? impl_->port + 1 : 0);
    const std::string address = options.host + ":" + std::to_string(impl_->port);
    // The page is served from the server's own thread, which may ask before make_unique returned and until
    // shutdown() stopped it: it reads only what outlives it.
    impl_->status = std::make_unique<detail::StatusHttpServer>(options.host, statusPort, [impl = impl_.get(), address] {
      std::lock_guard lock(impl->mutex);
      return impl->state.statusJson(detail::unixNow(), address, impl->statusAddress);
    });
    std::lock_guard lock(impl_->mutex);
    impl_->statusAddress = options.host + ":" + std::to_string(impl_->status->port());
  }
  impl_->ticker = std::thread([impl = impl_.get()] {
    std::unique_lock lock(impl->mutex);
    while (!impl->stopped.wait_for(lock, kTickInterval, [impl] { return impl->stopping; })) {
      lock.unlock();
      try {
        impl->state.tick(detail::unixNow());
      } catch (const std::exception& error) {
        logger("matchmaker")->error("matchmaker: {}", error.what());
      }
      lock.lock();
    }
  });
}

MatchmakerServer::~MatchmakerServer() {
  shutdown();
  if (impl_->ticker.joinable()) impl_->ticker.join();
}

int MatchmakerServer::port() const { return impl_->port; }
int MatchmakerServer::statusPort() const { return impl_->status ? impl_->status->port() : -1; }

void MatchmakerServer::wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopped.wait(lock, [this] { return impl_->stopped_; });
}

void MatchmakerServer::shutdown() {
  {
    std::unique_lock lock(impl_->mutex);
    if (impl_->stopping) {  // another thread is shutting down: return once it is done
      impl_->stopped.wait(lock, [this] { return impl_->stopped_; });
      return;
    }
    impl_->stopping = true;
  }
  impl_->stopped.notify_all();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->status.reset();  // joins the page's thread
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopped_ = true;
  }
  impl_->stopped.notify_all();
}

}  // namespace ravnest
