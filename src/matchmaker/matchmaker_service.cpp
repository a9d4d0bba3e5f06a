#include "matchmaker/matchmaker_service.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/constant_time.h"
#include "comm/server_state.h"  // kTokenMetadataKey
#include "matchmaker/artifact_files.h"
#include "matchmaker/link_probe.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

constexpr uint64_t kMaxUploadProbeBytes = uint64_t{512} << 20;

}  // namespace

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

template <typename Body>
grpc::Status MatchmakerService::guarded(grpc::ServerContext* context, Body&& body) {
  if (!token_.empty()) {
    const auto& metadata = context->client_metadata();
    const auto found = metadata.find(kTokenMetadataKey);
    const std::string_view given =
        found == metadata.end() ? std::string_view() : std::string_view(found->second.data(), found->second.size());
    if (!constantTimeEquals(token_, given)) {
      logger("matchmaker")->warn("matchmaker: refused a call from {} with a wrong or missing token", context->peer());
      return {grpc::StatusCode::UNAUTHENTICATED,
              "wrong or missing matchmaker token: pass the matchmaker's --token as matchmaker_token= or "
              "RAVNEST_MATCHMAKER_TOKEN"};
    }
  }
  try {
    return body();
  } catch (const ServiceError& error) {
    return {error.code(), error.what()};
  } catch (const InvalidArgumentError& error) {
    return {grpc::StatusCode::INVALID_ARGUMENT, error.what()};
  } catch (const std::exception& error) {
    logger("matchmaker")->error("matchmaker: {}", error.what());
    return {grpc::StatusCode::INTERNAL, error.what()};
  }
}

grpc::Status MatchmakerService::Echo(grpc::ServerContext* context, const matchmaking::EchoMessage* request,
                                     matchmaking::EchoMessage* reply) {
  return guarded(context, [&] {
    *reply = *request;
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::Upload(grpc::ServerContext* context,
                                       grpc::ServerReader<matchmaking::EchoMessage>* reader,
                                       matchmaking::UploadSummary* reply) {
  return guarded(context, [&] {
    std::vector<std::pair<double, uint64_t>> samples;
    const auto start = std::chrono::steady_clock::now();
    uint64_t total = 0;
    matchmaking::EchoMessage piece;
    while (total < kMaxUploadProbeBytes && reader->Read(&piece)) {
      total += piece.payload().size();
      samples.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), total);
    }
    reply->set_bytes(total);
    reply->set_bandwidth_mbps(streamRateMbps(samples));
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::Join(grpc::ServerContext* context, const matchmaking::JoinRequest* request,
                                     matchmaking::JoinReply* reply) {
  return guarded(context, [&] {
    *reply = state_.join(*request, unixNow());
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::Heartbeat(grpc::ServerContext* context, const matchmaking::HeartbeatRequest* request,
                                          matchmaking::HeartbeatReply* reply) {
  return guarded(context, [&] {
    *reply = state_.heartbeat(*request, unixNow());
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::Fetch(grpc::ServerContext* context, const matchmaking::FetchRequest* request,
                                      grpc::ServerWriter<matchmaking::ArtifactChunk>* writer) {
  return guarded(context, [&] {
    const auto [file, artifact] = state_.artifactSource(request->job(), request->name(), request->session(),
                                                        request->path());
    std::ifstream in(file, std::ios::binary);
    if (!in) return grpc::Status(grpc::StatusCode::DATA_LOSS, "the matchmaker lost " + request->path());
    std::string buffer(kArtifactChunkBytes, '\0');
    uint64_t offset = 0;
    do {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      matchmaking::ArtifactChunk chunk;
      chunk.set_job(request->job());
      chunk.set_path(request->path());
      chunk.set_size(artifact.size);
      chunk.set_sha256(artifact.sha256);
      chunk.set_offset(offset);
      chunk.set_data(buffer.data(), static_cast<size_t>(in.gcount()));
      offset += static_cast<uint64_t>(in.gcount());
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "the provider went away");
    } while (in && !context->IsCancelled());
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::SubmitJob(grpc::ServerContext* context, const matchmaking::JobRequest* request,
                                          matchmaking::JobId* reply) {
  return guarded(context, [&] {
    *reply = state_.submitJob(*request, unixNow());
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::GetJob(grpc::ServerContext* context, const matchmaking::JobId* request,
                                       matchmaking::JobView* reply) {
  return guarded(context, [&] {
    reply->set_json(state_.jobView(*request, unixNow()));
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::PutArtifact(grpc::ServerContext* context,
                                            grpc::ServerReader<matchmaking::ArtifactChunk>* reader,
                                            matchmaking::ArtifactAck* reply) {
  return guarded(context, [&] {
    matchmaking::ArtifactChunk chunk;
    if (!reader->Read(&chunk)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "an upload with no chunk");
    const uint64_t size = chunk.size();
    const std::string provider = chunk.provider(), path = chunk.path(), expected = chunk.sha256();
    matchmaking::JobId job;
    job.set_job(chunk.job());
    job.set_secret(chunk.secret());
    if (size > kMaxArtifactBytes) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          concat("artifact ", path, " declares ", size, " bytes, more than the limit ", kMaxArtifactBytes));
    }
    const std::string file = state_.artifactTarget(job, provider, path, unixNow());
    // One name per call: two uploads of the same file never write into each other.
    static std::atomic<uint64_t> uploads{0};
    const std::string partial = concat(file, ".", ++uploads, ".partial");
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) return grpc::Status(grpc::StatusCode::INTERNAL, "the matchmaker cannot write " + partial);
    Sha256 sha;
    uint64_t received = 0;
    bool more = true;
    while (more) {
      if (chunk.offset() != received || received + chunk.data().size() > size) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            concat("artifact ", path, ": a chunk at offset ", chunk.offset(), " with ",
                                   chunk.data().size(), " bytes does not follow byte ", received, " of ", size));
      }
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      sha.add(chunk.data().data(), chunk.data().size());
      received += chunk.data().size();
      more = reader->Read(&chunk);
    }
    out.close();
    if (!out) {
      std::remove(partial.c_str());
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          concat("the matchmaker could not write ", path, " for ", provider, " (is its disk full?)"));
    }
    if (received < size) {
      std::remove(partial.c_str());
      if (context->IsCancelled()) {
        state_.dropJob(job, concat("the requester disconnected during the upload of ", path, " for ", provider));
        return grpc::Status(grpc::StatusCode::CANCELLED, "upload cancelled");
      }
      return grpc::Status(grpc::StatusCode::DATA_LOSS, concat("artifact ", path, " for ", provider, " is truncated: ",
                                                              received, " of ", size, " bytes arrived; send it again"));
    }
    const std::string actual = sha.hex();
    if (actual != expected) {
      std::remove(partial.c_str());
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          concat("artifact ", path, " for ", provider, " is corrupt: its SHA-256 is ", actual,
                                 ", the sender declared ", expected, "; send it again"));
    }
    std::filesystem::rename(partial, file);
    state_.recordArtifact(job.job(), provider, path, size, actual);
    reply->set_sha256(actual);
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::Commit(grpc::ServerContext* context, const matchmaking::CommitRequest* request,
                                       matchmaking::Empty*) {
  return guarded(context, [&] {
    matchmaking::JobId job;
    job.set_job(request->job());
    job.set_secret(request->secret());
    state_.commit(job, request->plan_json(), unixNow());
    return grpc::Status::OK;
  });
}

grpc::Status MatchmakerService::CancelJob(grpc::ServerContext* context, const matchmaking::JobId* request,
                                          matchmaking::Empty*) {
  return guarded(context, [&] {
    state_.dropJob(*request, "cancelled by its requester");
    return grpc::Status::OK;
  });
}

}  // namespace ravnest::detail
