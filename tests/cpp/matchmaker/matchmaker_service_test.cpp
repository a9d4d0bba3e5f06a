// The matchmaker's gRPC service on a real port, spoken to with the generated stubs: the refusals each bad input
// gets, artifacts checked by their SHA-256, and a restart that recovers the state from SQLite.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "matchmaker.grpc.pb.h"
#include "matchmaker/artifact_files.h"
#include "ravnest/common/error.h"
#include "ravnest/matchmaker/matchmaker_server.h"
#include "ravnest/matchmaker/provider_session.h"
#include "ravnest/matchmaker/requester_client.h"

namespace ravnest {
namespace {

namespace fs = std::filesystem;
namespace mm = matchmaking;
constexpr const char* kToken = "secret";

std::string freshFolder(const std::string& name) {
  const fs::path folder = fs::temp_directory_path() / (name + "-" + std::to_string(std::random_device{}()));
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder.string();
}

class MatchmakerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = freshFolder("ravnest-matchmaker-test");
    start();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(state_);
  }
  void start() {
    MatchmakerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.statusPort = -1;
    options.token = kToken;
    options.stateDir = state_;
    server_ = std::make_unique<MatchmakerServer>(options);
    address_ = "127.0.0.1:" + std::to_string(server_->port());
    stub_ = mm::Matchmaker::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<grpc::ClientContext> call(const std::string& token = kToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("ravnest-token", token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }
  static mm::JoinRequest joinRequest(const std::string& name, uint64_t session = 1) {
    mm::JoinRequest request;
    request.set_name(name);
    request.set_session(session);
    request.set_address("127.0.0.1:9");
    auto* p = request.mutable_profile();
    p->set_ram_gb(8);
    p->set_matmul_gflops(50);
    p->set_conv_gflops(20);
    p->set_bandwidth_mbps(100);
    p->set_rtt_ms(1);
    return request;
  }
  grpc::Status join(const mm::JoinRequest& request) {
    mm::JoinReply reply;
    return stub_->Join(call().get(), request, &reply);
  }
  MatchmakerClientOptions clientOptions() const { return {address_, kToken, ""}; }

  std::string state_, address_;
  std::unique_ptr<MatchmakerServer> server_;
  std::unique_ptr<mm::Matchmaker::Stub> stub_;
};

TEST_F(MatchmakerServiceTest, AWrongTokenIsUnauthenticatedWithAMessageThatSaysSo) {
  mm::JoinReply reply;
  const auto status = stub_->Join(call("wrong").get(), joinRequest("p"), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("wrong or missing matchmaker token"), std::string::npos);
  ProviderSessionOptions options;
  options.matchmaker = {address_, "wrong", ""};
  options.profile = ProviderProfile{8, 50, 20, "", 0, 2};
  EXPECT_THROW(ProviderSession(options, 5), AuthenticationError);
  EXPECT_THROW(RequesterClient({address_, "", ""}).submitJob(1, 0), AuthenticationError);
}

TEST_F(MatchmakerServiceTest, ImpossibleFiguresAreRefusedByName) {
  for (const auto& [field, set] : std::vector<std::pair<std::string, std::function<void(mm::Profile*)>>>{
           {"ram_gb", [](mm::Profile* p) { p->set_ram_gb(-1); }},
           {"ram_gb", [](mm::Profile* p) { p->set_ram_gb(1e9); }},
           {"matmul_gflops", [](mm::Profile* p) { p->set_matmul_gflops(0); }},
           {"conv_gflops", [](mm::Profile* p) { p->set_conv_gflops(std::nan("")); }},
           {"bandwidth_mbps", [](mm::Profile* p) { p->set_bandwidth_mbps(INFINITY); }},
           {"rtt_ms", [](mm::Profile* p) { p->set_rtt_ms(-3); }},
           {"benchmark_ram_gb", [](mm::Profile* p) { p->set_benchmark_ram_gb(-2); }}}) {
    mm::JoinRequest request = joinRequest("p");
    set(request.mutable_profile());
    const auto status = join(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_NE(status.error_message().find(field + " = "), std::string::npos) << status.error_message();
    EXPECT_NE(status.error_message().find("impossible"), std::string::npos) << status.error_message();
  }
  for (const char* badName : {"../etc", "..", ".", "-x", ""}) {
    EXPECT_EQ(join(joinRequest(badName)).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << badName;
  }
  mm::JoinRequest badAddress = joinRequest("p");
  badAddress.set_address("nowhere");
  EXPECT_EQ(join(badAddress).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MatchmakerServiceTest, ADuplicateNameIsRefusedWhileItsOwnerIsConnected) {
  ASSERT_TRUE(join(joinRequest("twin", 1)).ok());
  const auto status = join(joinRequest("twin", 2));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(status.error_message().find("give every provider its own name"), std::string::npos);
  EXPECT_TRUE(join(joinRequest("twin", 1)).ok()) << "the same process may join again";
}

// One provider, a job of one, an artifact; `tamper` may change the uploaded file before the provider fetches it.
void runOneProviderJob(const std::string& address, const std::string& state, bool tamper, std::string* failure) {
  ProviderSessionOptions options;
  options.matchmaker = {address, kToken, ""};
  options.name = "solo";
  options.advertiseHost = "127.0.0.1";
  options.workDir = freshFolder("ravnest-provider");
  options.profile = ProviderProfile{8, 50, 20, "", 0, 2};
  ProviderSession provider(options, 10);
  RequesterClient requester({address, kToken, ""});
  const uint64_t job = requester.submitJob(1, 0);
  for (int i = 0; i < 100 && requester.job(job).find("\"state\":\"measured\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string file = options.workDir + "/upload.bin";
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(file, std::ios::binary) << bytes;
  requester.uploadArtifact(job, "solo", "nodes/node_0.json", file);
  if (tamper) {
    std::fstream stored(state + "/artifacts/job_" + std::to_string(job) + "/solo/nodes/node_0.json",
                        std::ios::in | std::ios::out | std::ios::binary);
    stored.seekp(12345);
    stored.put('X');
  }
  requester.commit(job, R"({"nodes": [{"provider": "solo", "node_name": "node_0", "cluster": 0, "stage": 0,
                            "role": "root"}]})");
  try {
    const auto assignment = provider.waitForAssignment(30);
    EXPECT_EQ(assignment.nodeName, "node_0");
    std::ifstream fetched(assignment.nodeDataDir + "/nodes/node_0.json", std::ios::binary);
    const std::string got((std::istreambuf_iterator<char>(fetched)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, bytes);
  } catch (const Error& error) {
    *failure = error.what();
  }
  fs::remove_all(options.workDir);
}

TEST_F(MatchmakerServiceTest, AnArtifactTravelsWithItsChecksumToTheProvider) {
  std::string failure;
  runOneProviderJob(address_, state_, false, &failure);
  EXPECT_EQ(failure, "");
}

TEST_F(MatchmakerServiceTest, ACorruptArtifactIsRefusedByTheProviderAfterItsRetries) {
  std::string failure;
  runOneProviderJob(address_, state_, true, &failure);
  EXPECT_NE(failure.find("arrived corrupt"), std::string::npos) << failure;
}

TEST_F(MatchmakerServiceTest, UploadsWithAWrongChecksumOrMissingBytesOrABadPathAreRefused) {
  ASSERT_TRUE(join(joinRequest("p")).ok());
  mm::JobRequest request;
  request.set_providers(1);
  mm::JobId job;
  ASSERT_TRUE(stub_->SubmitJob(call().get(), request, &job).ok());
  // The matchmaker hands the job over once its one provider is measured (no links to probe).
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto put = [&](const std::string& path, const std::string& data, uint64_t size, const std::string& sha) {
    mm::ArtifactAck ack;
    auto context = call();
    auto writer = stub_->PutArtifact(context.get(), &ack);
    mm::ArtifactChunk chunk;
    chunk.set_job(job.job());
    chunk.set_secret(job.secret());
    chunk.set_provider("p");
    chunk.set_path(path);
    chunk.set_size(size);
    chunk.set_sha256(sha);
    chunk.set_data(data);
    writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  };
  detail::Sha256 sha;
  sha.add("hello", 5);
  const std::string good = sha.hex();
  auto status = put("nodes/node_0.json", "hellO", 5, good);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(status.error_message().find("corrupt"), std::string::npos) << status.error_message();
  status = put("nodes/node_0.json", "hel", 5, good);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(status.error_message().find("truncated"), std::string::npos) << status.error_message();
  status = put("../../escape", "hello", 5, good);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  status = put("nodes/node_0.json", "hello", uint64_t{1} << 40, good);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_TRUE(put("nodes/node_0.json", "hello", 5, good).ok());
  // Without the job's secret another holder of the token can neither upload nor cancel.
  const std::string secret = job.secret();
  job.set_secret("guess");
  EXPECT_EQ(put("nodes/node_0.json", "hello", 5, good).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  mm::Empty empty;
  EXPECT_EQ(stub_->CancelJob(call().get(), job, &empty).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  job.set_secret(secret);
  EXPECT_TRUE(stub_->CancelJob(call().get(), job, &empty).ok());
}

TEST_F(MatchmakerServiceTest, AJobThatCannotBeFilledHoldsNobodyBack) {
  ASSERT_TRUE(join(joinRequest("one", 1)).ok());
  ASSERT_TRUE(join(joinRequest("two", 2)).ok());
  mm::JobRequest big, small;
  big.set_providers(10);
  small.set_providers(2);
  mm::JobId first, second;
  ASSERT_TRUE(stub_->SubmitJob(call().get(), big, &first).ok());
  ASSERT_TRUE(stub_->SubmitJob(call().get(), small, &second).ok());
  mm::JobView view;
  ASSERT_TRUE(stub_->GetJob(call().get(), first, &view).ok());
  EXPECT_NE(view.json().find("\"members\":[]"), std::string::npos) << view.json();
  ASSERT_TRUE(stub_->GetJob(call().get(), second, &view).ok());
  EXPECT_NE(view.json().find("\"state\":\"probing\""), std::string::npos) << view.json();
  EXPECT_NE(view.json().find("\"one\""), std::string::npos) << view.json();
  EXPECT_NE(view.json().find("\"two\""), std::string::npos) << view.json();
  mm::JobId stranger = second;
  stranger.set_secret("");
  EXPECT_EQ(stub_->GetJob(call().get(), stranger, &view).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MatchmakerServiceTest, ARestartedMatchmakerRecoversItsJobsAndProvidersFromSqlite) {
  ASSERT_TRUE(join(joinRequest("keeper")).ok());
  mm::JobRequest request;
  request.set_providers(3);
  mm::JobId job;
  ASSERT_TRUE(stub_->SubmitJob(call().get(), request, &job).ok());
  server_.reset();
  start();
  mm::JobView view;
  ASSERT_TRUE(stub_->GetJob(call().get(), job, &view).ok()) << "the job and its secret are known after the restart";
  EXPECT_NE(view.json().find("\"state\":\"waiting\""), std::string::npos) << view.json();
  EXPECT_EQ(view.json().find(job.secret()), std::string::npos) << "the view must not show the secret";
  mm::HeartbeatRequest beat;
  beat.set_name("keeper");
  beat.set_session(1);
  mm::HeartbeatReply reply;
  EXPECT_TRUE(stub_->Heartbeat(call().get(), beat, &reply).ok()) << "the provider is known after the restart";
}

}  // namespace
}  // namespace ravnest
