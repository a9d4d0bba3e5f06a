#pragma once

#include <string>

#include "matchmaker.grpc.pb.h"
#include "matchmaker/matchmaker_state.h"

namespace ravnest::detail {

/// The gRPC face of MatchmakerState: checks the token of every call, moves bytes (bandwidth probes,
/// artifacts with their SHA-256) and turns refusals into precise statuses.
class MatchmakerService final : public matchmaking::Matchmaker::Service {
 public:
  MatchmakerService(MatchmakerState& state, std::string token) : state_(state), token_(std::move(token)) {}

  grpc::Status Echo(grpc::ServerContext* context, const matchmaking::EchoMessage* request,
                    matchmaking::EchoMessage* reply) override;
  grpc::Status Upload(grpc::ServerContext* context, grpc::ServerReader<matchmaking::EchoMessage>* reader,
                      matchmaking::UploadSummary* reply) override;
  grpc::Status Join(grpc::ServerContext* context, const matchmaking::JoinRequest* request,
                    matchmaking::JoinReply* reply) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const matchmaking::HeartbeatRequest* request,
                         matchmaking::HeartbeatReply* reply) override;
  grpc::Status Fetch(grpc::ServerContext* context, const matchmaking::FetchRequest* request,
                     grpc::ServerWriter<matchmaking::ArtifactChunk>* writer) override;
  grpc::Status SubmitJob(grpc::ServerContext* context, const matchmaking::JobRequest* request,
                         matchmaking::JobId* reply) override;
  grpc::Status GetJob(grpc::ServerContext* context, const matchmaking::JobId* request,
                      matchmaking::JobView* reply) override;
  grpc::Status PutArtifact(grpc::ServerContext* context, grpc::ServerReader<matchmaking::ArtifactChunk>* reader,
                           matchmaking::ArtifactAck* reply) override;
  grpc::Status Commit(grpc::ServerContext* context, const matchmaking::CommitRequest* request,
                      matchmaking::Empty* reply) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const matchmaking::JobId* request,
                         matchmaking::Empty* reply) override;

 private:
  template <typename Body>
  grpc::Status guarded(grpc::ServerContext* context, Body&& body);

  MatchmakerState& state_;
  const std::string token_;
};

/// Seconds since the Unix epoch: the matchmaker's clock, kept in its state.
double unixNow();

}  // namespace ravnest::detail
