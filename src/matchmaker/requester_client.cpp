#include "ravnest/matchmaker/requester_client.h"

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "matchmaker.grpc.pb.h"
#include "matchmaker/artifact_files.h"
#include "matchmaker/matchmaker_channel.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest {
using detail::concat;
namespace {

namespace mm = matchmaking;
constexpr double kCallTimeoutS = 30;
constexpr auto kKeepAliveInterval = std::chrono::seconds(2);
constexpr int kUploadAttempts = 3;

}  // namespace

struct RequesterClient::Impl {
  MatchmakerClientOptions options;
  std::unique_ptr<mm::Matchmaker::Stub> stub;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, std::string> secrets;  // of the jobs this client submitted
  std::set<uint64_t> open;                  // jobs kept alive until committed or cancelled

  mm::JobId owned(uint64_t job) {
    mm::JobId id;
    id.set_job(job);
    std::lock_guard lock(mutex);
    const auto found = secrets.find(job);
    RAVNEST_CHECK(found != secrets.end(), "job ", job, " was not submitted by this client");
    id.set_secret(found->second);
    return id;
  }
  bool stopping = false;
  std::thread keepAlive;

  std::string getJob(uint64_t job) {
    grpc::ClientContext context;
    detail::prepareCall(context, options, kCallTimeoutS);
    const mm::JobId request = owned(job);
    mm::JobView reply;
    detail::throwIfFailed(stub->GetJob(&context, request, &reply), options, concat("job ", job));
    return reply.json();
  }

  void keepAliveLoop() {
    std::unique_lock lock(mutex);
    while (!changed.wait_for(lock, kKeepAliveInterval, [this] { return stopping; })) {
      const std::set<uint64_t> jobs = open;
      lock.unlock();
      for (uint64_t job : jobs) {
        try {
          getJob(job);
        } catch (const Error& error) {
          logger("requester")->debug("requester keep-alive of job {}: {}", job, error.what());
        }
      }
      lock.lock();
    }
  }

  void upload(uint64_t job, const std::string& provider, const std::string& path, const std::string& file,
              const std::string& sha256) {
    const std::string secret = owned(job).secret();
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    RAVNEST_CHECK_AS(ConfigError, in, "cannot read the artifact ", file);
    const uint64_t size = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    grpc::ClientContext context;
    detail::prepareCall(context, options, detail::transferSeconds(size));
    mm::ArtifactAck ack;
    auto writer = stub->PutArtifact(&context, &ack);
    std::string buffer(detail::kArtifactChunkBytes, '\0');
    uint64_t offset = 0;
    do {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      mm::ArtifactChunk chunk;
      chunk.set_job(job);
      chunk.set_secret(secret);
      chunk.set_provider(provider);
      chunk.set_path(path);
      chunk.set_size(size);
      chunk.set_sha256(sha256);
      chunk.set_offset(offset);
      chunk.set_data(buffer.data(), static_cast<size_t>(in.gcount()));
      offset += static_cast<uint64_t>(in.gcount());
      if (!writer->Write(chunk)) break;
    } while (in && offset < size);
    writer->WritesDone();
    detail::throwIfFailed(writer->Finish(), options, concat("upload of ", path, " for ", provider));
  }
};

RequesterClient::RequesterClient(const MatchmakerClientOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->stub = mm::Matchmaker::NewStub(detail::matchmakerChannel(options));
  impl_->keepAlive = std::thread([impl = impl_.get()] { impl->keepAliveLoop(); });
}

RequesterClient::~RequesterClient() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->changed.notify_all();
  impl_->keepAlive.join();
}

uint64_t RequesterClient::submitJob(uint32_t providers, double waitS) {
  grpc::ClientContext context;
  detail::prepareCall(context, impl_->options, kCallTimeoutS);
  mm::JobRequest request;
  request.set_providers(providers);
  request.set_wait_s(waitS);
  mm::JobId reply;
  detail::throwIfFailed(impl_->stub->SubmitJob(&context, request, &reply), impl_->options, "submit a job");
  std::lock_guard lock(impl_->mutex);
  impl_->secrets[reply.job()] = reply.secret();
  impl_->open.insert(reply.job());
  return reply.job();
}

std::string RequesterClient::job(uint64_t job) { return impl_->getJob(job); }

void RequesterClient::uploadArtifact(uint64_t job, const std::string& provider, const std::string& relativePath,
                                     const std::string& file) {
  detail::checkArtifactPath(relativePath);
  const std::string sha256 = detail::sha256OfFile(file);
  for (int attempt = 1;; ++attempt) {
    try {
      impl_->upload(job, provider, relativePath, file, sha256);
      return;
    } catch (const ProtocolError& error) {  // corrupt or truncated on arrival: send it again
      if (attempt == kUploadAttempts) throw;
      logger("requester")->warn("{}; sending it again ({} of {})", error.what(), attempt + 1, kUploadAttempts);
    }
  }
}

void RequesterClient::commit(uint64_t job, const std::string& planJson) {
  grpc::ClientContext context;
  detail::prepareCall(context, impl_->options, kCallTimeoutS);
  mm::CommitRequest request;
  request.set_job(job);
  request.set_secret(impl_->owned(job).secret());
  request.set_plan_json(planJson);
  mm::Empty reply;
  detail::throwIfFailed(impl_->stub->Commit(&context, request, &reply), impl_->options, concat("commit job ", job));
  std::lock_guard lock(impl_->mutex);
  impl_->open.erase(job);
}

void RequesterClient::cancel(uint64_t job) {
  grpc::ClientContext context;
  detail::prepareCall(context, impl_->options, kCallTimeoutS);
  const mm::JobId request = impl_->owned(job);
  mm::Empty reply;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->open.erase(job);
  }
  detail::throwIfFailed(impl_->stub->CancelJob(&context, request, &reply), impl_->options, concat("cancel job ", job));
}

}  // namespace ravnest
