#include "matchmaker/matchmaker_state.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <regex>

#include "comm/stream/stream_socket.h"  // splitHostPort
#include "common/constant_time.h"
#include "matchmaker/artifact_files.h"
#include "matchmaker/probe_plan.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Loss points the status page gets per job.
constexpr int kLossPoints = 2000;

[[noreturn]] void refuse(grpc::StatusCode code, const std::string& message) { throw ServiceError(code, message); }

// A measured figure must be a finite number in (low, high]; `zeroOk` also takes 0 (not measured, not given).
void checkFigure(const std::string& who, const char* field, double value, double high, bool zeroOk = false) {
  if (zeroOk && value == 0) return;
  if (!std::isfinite(value) || value <= 0 || value > high) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT,
           concat("provider ", who, ": ", field, " = ", value, " is impossible (expected more than 0 and at most ",
                  high, "); check the measurement or the benchmarks given by hand"));
  }
}

json profileJson(const matchmaking::Profile& p) {
  return {{"ram_gb", p.ram_gb()},         {"matmul_gflops", p.matmul_gflops()},
          {"conv_gflops", p.conv_gflops()}, {"gpu", p.gpu()},
          {"gpu_gflops", p.gpu_gflops()}, {"cpu_cores", p.cpu_cores()},
          {"rtt_ms", p.rtt_ms()},         {"bandwidth_mbps", p.bandwidth_mbps()},
          {"benchmark_ram_gb", p.benchmark_ram_gb()}, {"benchmark_bandwidth_mbps", p.benchmark_bandwidth_mbps()}};
}

bool running(const json& job) { return job["state"] == "running"; }
bool open(const json& job) {
  const std::string state = job["state"];
  return state == "waiting" || state == "probing" || state == "measured" || state == "uploading";
}

}  // namespace

MatchmakerState::MatchmakerState(const MatchmakerOptions& options, double now)
    : options_(options),
      store_((fs::create_directories(options.stateDir), options.stateDir + "/matchmaker.sqlite3")),
      started_(now) {
  for (const std::string& doc : store_.providers()) {
    json provider = json::parse(doc);
    joinCounter_ = std::max<uint64_t>(joinCounter_, provider.value("joined", 0));
    // Seen now: a provider gets the usual grace to find the restarted matchmaker before it is shown lost.
    provider["last_heartbeat"] = now;
    providers_[provider["name"]] = provider;
  }
  for (const std::string& doc : store_.jobs()) {
    json job = json::parse(doc);
    nextJob_ = std::max<uint64_t>(nextJob_, job["id"].get<uint64_t>() + 1);
    requesterSeen_[job["id"]] = now;
    if (job["state"] == "probing") startProbing(job);  // measure again what was in flight
    jobs_[job["id"]] = job;
  }
  for (const std::string& doc : store_.links()) {
    json link = json::parse(doc);
    links_[{link["from"], link["to"]}] = link;
  }
  if (!jobs_.empty() || !providers_.empty()) {
    logger("matchmaker")
        ->info("matchmaker: recovered {} job(s) and {} provider(s) from {}", jobs_.size(), providers_.size(),
               store_.path());
  }
}

bool MatchmakerState::alive(const json& provider, double now) const {
  return now - provider["last_heartbeat"].get<double>() <= options_.providerLostAfterS;
}

void MatchmakerState::saveProvider(const json& provider) { store_.putProvider(provider["name"], provider.dump()); }
void MatchmakerState::saveJob(const json& job) { store_.putJob(job["id"], job.dump()); }

json& MatchmakerState::provider(const std::string& name, uint64_t session) {
  auto found = providers_.find(name);
  if (found == providers_.end() || found->second["session"].get<uint64_t>() != session) {
    refuse(grpc::StatusCode::NOT_FOUND, concat("provider ", name, " has not joined (or joined again elsewhere)"));
  }
  return found->second;
}

json& MatchmakerState::job(uint64_t id) {
  auto found = jobs_.find(id);
  if (found == jobs_.end()) refuse(grpc::StatusCode::NOT_FOUND, concat("no job ", id, " on this matchmaker"));
  return found->second;
}

json& MatchmakerState::ownedJob(const matchmaking::JobId& id) {
  json& j = job(id.job());
  if (!constantTimeEquals(j.value("secret", ""), id.secret())) {
    refuse(grpc::StatusCode::PERMISSION_DENIED, concat("job ", id.job(), " belongs to another requester"));
  }
  return j;
}

matchmaking::JoinReply MatchmakerState::join(const matchmaking::JoinRequest& request, double now) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  const std::string& name = request.name();
  if (!std::regex_match(name, kName)) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT,
           "a provider name must have 1 to 64 letters, digits, '.', '_' or '-', and start with a letter or digit; got '" +
               name.substr(0, 80) + "'");
  }
  try {
    const auto [host, port] = splitHostPort(request.address());
    if (host.empty() || port < 1 || port > 65535) throw InvalidArgumentError("bad port");
  } catch (const InvalidArgumentError&) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT,
           concat("provider ", name, ": address '", request.address().substr(0, 80), "' is not host:port"));
  }
  const matchmaking::Profile& p = request.profile();
  checkFigure(name, "ram_gb", p.ram_gb(), 1e5);
  checkFigure(name, "matmul_gflops", p.matmul_gflops(), 1e6);
  checkFigure(name, "conv_gflops", p.conv_gflops(), 1e6);
  checkFigure(name, "gpu_gflops", p.gpu_gflops(), 1e7, true);
  checkFigure(name, "bandwidth_mbps", p.bandwidth_mbps(), 1e6);
  checkFigure(name, "rtt_ms", p.rtt_ms(), 6e4, true);
  checkFigure(name, "benchmark_ram_gb", p.benchmark_ram_gb(), 1e5, true);
  checkFigure(name, "benchmark_bandwidth_mbps", p.benchmark_bandwidth_mbps(), 1e6, true);
  if (p.cpu_cores() < 0 || p.cpu_cores() > 100000) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT,
           concat("provider ", name, ": cpu_cores = ", p.cpu_cores(), " is impossible"));
  }
  std::lock_guard lock(mutex_);
  auto found = providers_.find(name);
  if (found != providers_.end()) {
    json& old = found->second;
    const bool sameProcess = old["session"].get<uint64_t>() == request.session();
    if (!sameProcess && alive(old, now) && old["state"] != "finished") {
      refuse(grpc::StatusCode::ALREADY_EXISTS,
             concat("a provider named ", name, " is already connected from ", old["address"].get<std::string>(),
                    "; give every provider its own name (Node(name=...) or RAVNEST_PROVIDER_NAME)"));
    }
    if (!sameProcess && old["job"].get<uint64_t>() != 0) {
      // The old process is gone: a job that has not started gives its place up; a running one cannot finish.
      auto j = jobs_.find(old["job"].get<uint64_t>());
      if (j != jobs_.end() && running(j->second) && old["state"] != "finished") {
        j->second["state"] = "failed";
        j->second["message"] = concat("provider ", name, " restarted during training");
        saveJob(j->second);
        logger("matchmaker")->warn("matchmaker: job {} failed: provider {} restarted during training", j->first, name);
      } else if (j != jobs_.end()) {
        drop(j->second, concat("provider ", name, " restarted"));
      }
    }
    tasksFor_.erase(name);
  }
  json provider = {{"name", name},        {"session", request.session()}, {"address", request.address()},
                   {"joined", ++joinCounter_}, {"profile", profileJson(p)}, {"state", "idle"},
                   {"job", 0},            {"cluster", nullptr},           {"stage", nullptr},
                   {"role", nullptr},     {"node_name", nullptr},         {"last_heartbeat", now},
                   {"figures", json::object()}};
  if (found != providers_.end() && found->second["session"].get<uint64_t>() == request.session()) {
    // The same process again (the matchmaker restarted and lost it, or it retried): keep its place.
    for (const char* key : {"state", "job", "cluster", "stage", "role", "node_name", "figures", "joined"}) {
      provider[key] = found->second[key];
    }
  }
  providers_[name] = provider;
  saveProvider(provider);
  logger("matchmaker")
      ->info("matchmaker: provider {} joined from {} ({:.1f} GB, {:.1f} GFLOP/s, {:.0f} Mbit/s to here)", name,
             request.address(), p.ram_gb(), p.matmul_gflops(), p.bandwidth_mbps());
  matchmaking::JoinReply reply;
  reply.set_heartbeat_interval_s(options_.heartbeatIntervalS);
  return reply;
}

void MatchmakerState::recordLink(const std::string& from, const matchmaking::PeerLink& link, double now) {
  json doc = {{"from", from}, {"to", link.peer()}, {"measured", now}, {"error", link.error()}};
  if (link.error().empty()) {
    if (!std::isfinite(link.rtt_ms()) || link.rtt_ms() < 0 || link.rtt_ms() > 6e4 ||
        !std::isfinite(link.bandwidth_mbps()) || link.bandwidth_mbps() <= 0 || link.bandwidth_mbps() > 1e6) {
      doc["error"] = concat("impossible figures: rtt ", link.rtt_ms(), " ms, ", link.bandwidth_mbps(), " Mbit/s");
    } else {
      doc["rtt_ms"] = link.rtt_ms();
      doc["bandwidth_mbps"] = link.bandwidth_mbps();
    }
  }
  links_[{from, link.peer()}] = doc;
  store_.putLink(from, link.peer(), doc.dump());
}

bool MatchmakerState::takeProbeResult(const std::string& prober, const matchmaking::PeerLink& link, double now) {
  for (auto& [id, flights] : probesInFlight_) {
    const auto found = std::find_if(flights.begin(), flights.end(), [&](const ProbeInFlight& f) {
      return f.prober == prober && f.target == link.peer();
    });
    if (found != flights.end()) {
      flights.erase(found);
      recordLink(prober, link, now);
      return true;
    }
  }
  return false;
}

matchmaking::HeartbeatReply MatchmakerState::heartbeat(const matchmaking::HeartbeatRequest& request, double now) {
  std::lock_guard lock(mutex_);
  json& p = provider(request.name(), request.session());
  p["last_heartbeat"] = now;
  for (const auto& link : request.links()) {
    if (!takeProbeResult(request.name(), link, now)) {
      logger("matchmaker")->debug("matchmaker: ignored a result for a probe of {} that {} was not asked for",
                                  link.peer().substr(0, 80), request.name());
    }
  }
  const uint64_t jobId = p["job"].get<uint64_t>();
  const std::string& state = request.state();
  if (!request.role().empty()) p["role"] = request.role();
  if (!request.figures().empty()) {
    json figures = json::object();
    for (const auto& [key, value] : request.figures()) {
      if (std::isfinite(value)) figures[key] = value;
    }
    const double oldCount = p["figures"].value("losses", 0.0);
    if (jobId != 0 && figures.contains("loss") && figures.value("losses", 0.0) > oldCount) {
      store_.addLoss(jobId, now, figures["loss"].get<double>());
    }
    p["figures"] = figures;
  }
  if (state == "training" || state == "finished") {
    const bool changed = p["state"] != state;
    p["state"] = state;
    if (changed) {
      saveProvider(p);
      if (state == "finished" && jobId != 0) advance(job(jobId), now);
    }
  }
  matchmaking::HeartbeatReply reply;
  auto tasks = tasksFor_.find(request.name());
  if (tasks != tasksFor_.end()) {
    for (const auto& task : tasks->second) *reply.add_probes() = task;
    tasksFor_.erase(tasks);
  }
  // Until the provider has its files: once it reports training, heartbeats cost no artifact lookup.
  if (jobId != 0 && p["state"] == "assigned" && jobs_.count(jobId) && running(jobs_[jobId]) &&
      p["node_name"].is_string()) {
    auto* assignment = reply.mutable_assignment();
    assignment->set_job(jobId);
    assignment->set_node_name(p["node_name"].get<std::string>());
    for (const auto& artifact : store_.artifacts(jobId, request.name())) {
      auto* info = assignment->add_artifacts();
      info->set_path(artifact.path);
      info->set_size(artifact.size);
      info->set_sha256(artifact.sha256);
    }
  }
  return reply;
}

matchmaking::JobId MatchmakerState::submitJob(const matchmaking::JobRequest& request, double now) {
  if (!std::isfinite(request.wait_s()) || request.wait_s() < 0 || request.wait_s() > 7 * 86400) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT,
           concat("wait must be from 0 to a week of seconds, got ", request.wait_s()));
  }
  if (request.providers() == 0 && request.wait_s() == 0) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, "a job needs providers=N, wait=SECONDS, or both");
  }
  if (request.providers() > 100000) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, concat("providers=", request.providers(), " is more than 100000"));
  }
  std::lock_guard lock(mutex_);
  const uint64_t id = nextJob_++;
  std::random_device entropy;
  std::string secret;
  for (int i = 0; i < 4; ++i) secret += concat(std::hex, entropy(), entropy());
  json job = {{"id", id},
              {"secret", secret},
              {"state", "waiting"},
              {"providers_wanted", request.providers()},
              {"wait_s", request.wait_s()},
              {"created", now},
              {"deadline", request.wait_s() > 0 ? now + request.wait_s() : 0.0},
              {"members", json::array()},
              {"message", nullptr},
              {"clusters", json::array()},
              {"probes_total", 0},
              {"probes_done", 0}};
  jobs_[id] = job;
  requesterSeen_[id] = now;
  saveJob(job);
  logger("matchmaker")
      ->info("matchmaker: job {} submitted ({} provider(s), wait {} s)", id, request.providers(), request.wait_s());
  advance(jobs_[id], now);
  matchmaking::JobId reply;
  reply.set_job(id);
  reply.set_secret(secret);
  return reply;
}

void MatchmakerState::startProbing(json& job) {
  const uint64_t id = job["id"];
  std::vector<std::string> members = job["members"];
  probesPending_[id].clear();
  probesInFlight_[id].clear();
  for (const auto& [i, j] : probePairs(static_cast<int>(members.size()), id)) {
    probesPending_[id].emplace_back(members[i], members[j]);
  }
  job["state"] = "probing";
  job["probes_total"] = probesPending_[id].size();
  job["probes_done"] = 0;
}

void MatchmakerState::handOutProbes(json& job, double now) {
  const uint64_t id = job["id"];
  auto& pending = probesPending_[id];
  auto& flights = probesInFlight_[id];
  // A probe not reported in time counts as failed.
  for (auto it = flights.begin(); it != flights.end();) {
    if (now - it->since > options_.probeTimeoutS) {
      matchmaking::PeerLink failed;
      failed.set_peer(it->target);
      failed.set_error(concat("not reported within ", options_.probeTimeoutS, " s"));
      recordLink(it->prober, failed, now);
      it = flights.erase(it);
    } else {
      ++it;
    }
  }
  std::set<std::string> busy;
  for (const auto& f : flights) busy.insert({f.prober, f.target});
  const std::set<std::string> members(job["members"].begin(), job["members"].end());
  for (auto it = pending.begin(); it != pending.end();) {
    const auto& [a, b] = *it;
    const bool gone = !members.count(a) || !members.count(b) || !alive(providers_[a], now) ||
                      !alive(providers_[b], now);
    if (gone) {
      it = pending.erase(it);
      continue;
    }
    if (busy.count(a) || busy.count(b)) {
      ++it;
      continue;
    }
    matchmaking::ProbeTask task;
    task.set_peer(b);
    task.set_address(providers_[b]["address"].get<std::string>());
    tasksFor_[a].push_back(task);
    flights.push_back({a, b, now});
    busy.insert(a);
    busy.insert(b);
    it = pending.erase(it);
  }
  job["probes_done"] = job["probes_total"].get<size_t>() - pending.size() - flights.size();
  if (pending.empty() && flights.empty()) {
    job["state"] = "measured";
    saveJob(job);
    logger("matchmaker")
        ->info("matchmaker: job {}: {} provider(s) measured, {} link(s) probed", id, job["members"].size(),
               job["probes_total"].get<size_t>());
  }
}

std::vector<std::string> MatchmakerState::idleProviders(double now) const {
  std::vector<std::pair<uint64_t, std::string>> idle;
  for (const auto& [name, p] : providers_) {
    if (p["state"] == "idle" && p["job"].get<uint64_t>() == 0 && alive(p, now)) idle.emplace_back(p["joined"], name);
  }
  std::sort(idle.begin(), idle.end());
  std::vector<std::string> names;
  for (auto& entry : idle) names.push_back(std::move(entry.second));
  return names;
}

void MatchmakerState::advance(json& job, double now) {
  const std::string state = job["state"];
  const uint64_t id = job["id"];
  if (state == "waiting") {
    // A job claims providers only when it can start: `providers` of them at once, or at its deadline those
    // there are. A job that cannot be filled holds nobody, so it never starves the jobs behind it.
    const std::vector<std::string> idle = idleProviders(now);
    const size_t wanted = job["providers_wanted"].get<size_t>();
    const bool late = job["wait_s"].get<double>() > 0 && now >= job["deadline"].get<double>();
    if ((wanted != 0 && idle.size() >= wanted) || (late && !idle.empty())) {
      for (const std::string& name : idle) {
        if (wanted != 0 && job["members"].size() >= wanted) break;
        job["members"].push_back(name);
        providers_[name]["job"] = id;
        providers_[name]["state"] = "probing";
        saveProvider(providers_[name]);
      }
      startProbing(job);
      saveJob(job);
    } else if (late) {
      job["state"] = "dropped";
      job["message"] = concat("no provider was waiting within ", job["wait_s"].get<double>(), " s");
      saveJob(job);
    }
  }
  if (job["state"] == "probing") handOutProbes(job, now);
  if (job["state"] == "running") {
    bool allFinished = !job["members"].empty();
    for (const std::string name : job["members"]) allFinished = allFinished && providers_[name]["state"] == "finished";
    if (allFinished) {
      job["state"] = "finished";
      saveJob(job);
      logger("matchmaker")->info("matchmaker: job {} finished", id);
    }
  }
}

std::string MatchmakerState::jobView(const matchmaking::JobId& id, double now) {
  std::lock_guard lock(mutex_);
  json& j = ownedJob(id);
  requesterSeen_[id.job()] = now;
  json view = j;
  view.erase("secret");
  view["providers"] = json::array();
  std::set<std::string> members(j["members"].begin(), j["members"].end());
  for (const auto& name : members) {
    const json& p = providers_[name];
    view["providers"].push_back({{"name", name}, {"address", p["address"]}, {"profile", p["profile"]},
                                 {"alive", alive(p, now)}});
  }
  view["links"] = json::array();
  for (const auto& [key, link] : links_) {
    if (members.count(key.first) && members.count(key.second)) view["links"].push_back(link);
  }
  return view.dump();
}

std::string MatchmakerState::artifactFile(uint64_t job, const std::string& provider, const std::string& path) const {
  return concat(options_.stateDir, "/artifacts/job_", job, "/", provider, "/", path);
}

std::string MatchmakerState::artifactTarget(const matchmaking::JobId& owned, const std::string& provider,
                                            const std::string& path, double now) {
  const uint64_t id = owned.job();
  try {
    checkArtifactPath(path);
  } catch (const InvalidArgumentError& error) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, error.what());
  }
  std::lock_guard lock(mutex_);
  json& j = ownedJob(owned);
  requesterSeen_[id] = now;
  if (j["state"] != "measured" && j["state"] != "uploading") {
    refuse(grpc::StatusCode::FAILED_PRECONDITION, concat("job ", id, " is ", j["state"].get<std::string>(),
                                                         ": artifacts are taken once its providers are measured"));
  }
  const auto& members = j["members"];
  if (std::find(members.begin(), members.end(), provider) == members.end()) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, concat("provider ", provider, " is not part of job ", id));
  }
  if (j["state"] != "uploading") {
    j["state"] = "uploading";
    saveJob(j);
  }
  const std::string file = artifactFile(id, provider, path);
  fs::create_directories(fs::path(file).parent_path());
  return file;
}

void MatchmakerState::recordArtifact(uint64_t id, const std::string& provider, const std::string& path,
                                     uint64_t size, const std::string& sha256) {
  std::lock_guard lock(mutex_);
  store_.putArtifact(id, provider, path, size, sha256);
}

void MatchmakerState::commit(const matchmaking::JobId& owned, const std::string& planJson, double now) {
  static const std::regex kNodeName("node_[0-9]{1,9}");
  const uint64_t id = owned.job();
  json plan;
  try {
    plan = json::parse(planJson);
  } catch (const json::exception& error) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, concat("the job plan is not JSON: ", error.what()));
  }
  std::lock_guard lock(mutex_);
  json& j = ownedJob(owned);
  requesterSeen_[id] = now;
  if (j["state"] != "uploading") {
    refuse(grpc::StatusCode::FAILED_PRECONDITION,
           concat("job ", id, " is ", j["state"].get<std::string>(), "; a plan is committed after its artifacts"));
  }
  if (!plan.contains("nodes") || !plan["nodes"].is_array() || plan["nodes"].empty()) {
    refuse(grpc::StatusCode::INVALID_ARGUMENT, "the job plan needs a non-empty 'nodes' list");
  }
  std::set<std::string> members(j["members"].begin(), j["members"].end());
  std::set<std::string> used;
  for (const json& node : plan["nodes"]) {
    const std::string name = node.value("provider", "");
    if (!members.count(name) || !node.contains("node_name") || !node["node_name"].is_string() ||
        !std::regex_match(node["node_name"].get<std::string>(), kNodeName)) {
      refuse(grpc::StatusCode::INVALID_ARGUMENT, concat("plan entry ", node.dump(), " names no provider of job ", id));
    }
    if (store_.artifacts(id, name).empty()) {
      refuse(grpc::StatusCode::FAILED_PRECONDITION, concat("provider ", name, " has no artifacts uploaded"));
    }
    used.insert(name);
  }
  for (const json& node : plan["nodes"]) {
    json& p = providers_[node["provider"].get<std::string>()];
    p["node_name"] = node["node_name"];
    p["cluster"] = node.value("cluster", json(nullptr));
    p["stage"] = node.value("stage", json(nullptr));
    p["role"] = node.value("role", json(nullptr));
    p["state"] = "assigned";
    saveProvider(p);
  }
  json kept = json::array();
  for (const std::string name : j["members"]) {
    if (used.count(name)) {
      kept.push_back(name);
    } else {  // not needed by the plan: back to the pool
      providers_[name]["job"] = 0;
      providers_[name]["state"] = "idle";
      saveProvider(providers_[name]);
    }
  }
  j["members"] = kept;
  j["clusters"] = plan.value("clusters", json::array());
  j["state"] = "running";
  saveJob(j);
  logger("matchmaker")->info("matchmaker: job {} committed: {} node(s) start", id, kept.size());
}

void MatchmakerState::release(json& job) {
  for (const std::string name : job["members"]) {
    tasksFor_.erase(name);
    auto found = providers_.find(name);
    if (found == providers_.end() || found->second["job"].get<uint64_t>() != job["id"].get<uint64_t>()) continue;
    found->second["job"] = 0;
    found->second["state"] = "idle";
    found->second["node_name"] = nullptr;
    found->second["cluster"] = found->second["stage"] = found->second["role"] = nullptr;
    saveProvider(found->second);
  }
  const uint64_t id = job["id"];
  probesPending_.erase(id);
  probesInFlight_.erase(id);
}

void MatchmakerState::dropJob(const matchmaking::JobId& id, const std::string& why) {
  std::lock_guard lock(mutex_);
  drop(ownedJob(id), why);
}

void MatchmakerState::drop(json& job, const std::string& why) {
  if (!open(job)) return;
  job["state"] = "dropped";
  job["message"] = why;
  release(job);
  saveJob(job);
  logger("matchmaker")->warn("matchmaker: job {} dropped: {}", job["id"].get<uint64_t>(), why);
}

std::pair<std::string, StateStore::Artifact> MatchmakerState::artifactSource(uint64_t id, const std::string& name,
                                                                             uint64_t session,
                                                                             const std::string& path) {
  std::lock_guard lock(mutex_);
  json& p = provider(name, session);
  if (p["job"].get<uint64_t>() != id) {
    refuse(grpc::StatusCode::PERMISSION_DENIED, concat("provider ", name, " is not part of job ", id));
  }
  for (const auto& artifact : store_.artifacts(id, name)) {
    if (artifact.path == path) return {artifactFile(id, name, path), artifact};
  }
  refuse(grpc::StatusCode::NOT_FOUND, concat("job ", id, " has no artifact ", path, " for ", name));
}

void MatchmakerState::tick(double now) {
  std::lock_guard lock(mutex_);
  for (auto& [id, job] : jobs_) {
    if (!open(job)) continue;
    if (now - requesterSeen_[id] > options_.requesterLostAfterS) {
      drop(job, concat("the requester went silent for ", options_.requesterLostAfterS, " s"));
      continue;
    }
    if (job["state"] == "waiting" || job["state"] == "probing") {
      // Providers that went silent before the job started leave it.
      json kept = json::array();
      for (const std::string name : job["members"]) {
        if (alive(providers_[name], now)) {
          kept.push_back(name);
        } else {
          providers_[name]["job"] = 0;
          providers_[name]["state"] = "idle";
          saveProvider(providers_[name]);
        }
      }
      job["members"] = kept;
    }
    advance(job, now);
  }
}

std::string MatchmakerState::statusJson(double now, const std::string& address, const std::string& statusAddress) {
  std::lock_guard lock(mutex_);
  json out = {{"matchmaker", {{"address", address}, {"status_address", statusAddress}, {"started", started_}}},
              {"jobs", json::array()},
              {"providers", json::array()},
              {"links", json::array()}};
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    const json& j = it->second;
    json view = {{"id", j["id"]},           {"state", j["state"]},
                 {"providers_wanted", j["providers_wanted"]}, {"created", j["created"]},
                 {"message", j["message"]}, {"clusters", j["clusters"]},
                 {"members", j["members"]}, {"probes_total", j["probes_total"]},
                 {"probes_done", j["probes_done"]}, {"loss", json::array()}};
    for (const auto& [t, loss] : store_.losses(j["id"], kLossPoints)) view["loss"].push_back({t, loss});
    out["jobs"].push_back(view);
  }
  for (const auto& [name, p] : providers_) {
    const json& profile = p["profile"];
    std::string state = p["state"];
    if (!alive(p, now) && state != "finished") state = "lost";
    json figures = p["figures"];
    out["providers"].push_back({{"name", name},
                                {"address", p["address"]},
                                {"state", state},
                                {"job", p["job"].get<uint64_t>() ? p["job"] : json(nullptr)},
                                {"cluster", p["cluster"]},
                                {"stage", p["stage"]},
                                {"role", p["role"]},
                                {"ram_gb", profile["ram_gb"]},
                                {"matmul_gflops", profile["matmul_gflops"]},
                                {"conv_gflops", profile["conv_gflops"]},
                                {"gpu", profile["gpu"]},
                                {"gpu_gflops", profile["gpu_gflops"]},
                                {"rtt_ms", profile["rtt_ms"]},
                                {"bandwidth_mbps", profile["bandwidth_mbps"]},
                                {"heartbeat_age_s", now - p["last_heartbeat"].get<double>()},
                                {"throughput", figures.value("throughput", json(nullptr))},
                                {"loss", figures.value("loss", json(nullptr))}});
  }
  for (const auto& [key, link] : links_) {
    if (link.contains("bandwidth_mbps")) {
      out["links"].push_back({{"from", key.first}, {"to", key.second}, {"rtt_ms", link["rtt_ms"]},
                              {"bandwidth_mbps", link["bandwidth_mbps"]}});
    }
  }
  return out.dump();
}

}  // namespace ravnest::detail
