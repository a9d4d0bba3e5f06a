#include "matchmaker/state_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

// A prepared statement that finalizes itself; bind() takes the parameters in order.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& file) : db_(db), file_(file) {
    RAVNEST_CHECK_AS(ConfigError, sqlite3_prepare_v2(db, sql.c_str(), -1, &statement_, nullptr) == SQLITE_OK,
                     "matchmaker state ", file, ": ", sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement& bind(const std::string& text) {
    sqlite3_bind_text(statement_, ++index_, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(uint64_t value) {
    sqlite3_bind_int64(statement_, ++index_, static_cast<sqlite3_int64>(value));
    return *this;
  }
  Statement& bind(double value) {
    sqlite3_bind_double(statement_, ++index_, value);
    return *this;
  }
  // True while a row is there.
  bool step() {
    const int rc = sqlite3_step(statement_);
    RAVNEST_CHECK_AS(ConfigError, rc == SQLITE_ROW || rc == SQLITE_DONE, "matchmaker state ", file_, ": ",
                     sqlite3_errmsg(db_));
    return rc == SQLITE_ROW;
  }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(statement_, column);
    return data ? std::string(reinterpret_cast<const char*>(data)) : std::string();
  }
  uint64_t integer(int column) const { return static_cast<uint64_t>(sqlite3_column_int64(statement_, column)); }
  double real(int column) const { return sqlite3_column_double(statement_, column); }

 private:
  sqlite3* db_;
  const std::string& file_;
  sqlite3_stmt* statement_ = nullptr;
  int index_ = 0;
};

}  // namespace

StateStore::StateStore(const std::string& path) : path_(path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw ConfigError("cannot open the matchmaker state " + path + ": " + why +
                      "; check that --state names a writable folder");
  }
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("CREATE TABLE IF NOT EXISTS providers (name TEXT PRIMARY KEY, doc TEXT NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS links (src TEXT, dst TEXT, doc TEXT NOT NULL, PRIMARY KEY (src, dst))");
  exec("CREATE TABLE IF NOT EXISTS artifacts (job INTEGER, provider TEXT, path TEXT, size INTEGER, sha256 TEXT, "
       "PRIMARY KEY (job, provider, path))");
  exec("CREATE TABLE IF NOT EXISTS losses (job INTEGER, t REAL, loss REAL)");
  exec("CREATE INDEX IF NOT EXISTS losses_by_job ON losses (job, t)");
}

StateStore::~StateStore() { sqlite3_close(db_); }

void StateStore::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string why = message ? message : "unknown error";
    sqlite3_free(message);
    throw ConfigError("matchmaker state " + path_ + ": " + why);
  }
}

void StateStore::putProvider(const std::string& name, const std::string& json) {
  Statement(db_, "INSERT OR REPLACE INTO providers VALUES (?, ?)", path_).bind(name).bind(json).step();
}

void StateStore::putJob(uint64_t id, const std::string& json) {
  Statement(db_, "INSERT OR REPLACE INTO jobs VALUES (?, ?)", path_).bind(id).bind(json).step();
}

void StateStore::putLink(const std::string& from, const std::string& to, const std::string& json) {
  Statement(db_, "INSERT OR REPLACE INTO links VALUES (?, ?, ?)", path_).bind(from).bind(to).bind(json).step();
}

void StateStore::putArtifact(uint64_t job, const std::string& provider, const std::string& path, uint64_t size,
                             const std::string& sha256) {
  Statement(db_, "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?)", path_)
      .bind(job).bind(provider).bind(path).bind(size).bind(sha256).step();
}

void StateStore::addLoss(uint64_t job, double time, double loss) {
  Statement(db_, "INSERT INTO losses VALUES (?, ?, ?)", path_).bind(job).bind(time).bind(loss).step();
}

std::vector<std::string> StateStore::column(const std::string& sql) const {
  Statement statement(db_, sql, path_);
  std::vector<std::string> out;
  while (statement.step()) out.push_back(statement.text(0));
  return out;
}

std::vector<std::string> StateStore::providers() const { return column("SELECT doc FROM providers"); }
std::vector<std::string> StateStore::jobs() const { return column("SELECT doc FROM jobs ORDER BY id"); }
std::vector<std::string> StateStore::links() const { return column("SELECT doc FROM links"); }

std::vector<StateStore::Artifact> StateStore::artifacts(uint64_t job, const std::string& provider) const {
  Statement statement(db_, "SELECT path, size, sha256 FROM artifacts WHERE job = ? AND provider = ? ORDER BY path",
                      path_);
  statement.bind(job).bind(provider);
  std::vector<Artifact> out;
  while (statement.step()) out.push_back({statement.text(0), statement.integer(1), statement.text(2)});
  return out;
}

std::vector<std::pair<double, double>> StateStore::losses(uint64_t job, int limit) const {
  Statement statement(db_, "SELECT t, loss FROM losses WHERE job = ? ORDER BY t DESC LIMIT ?", path_);
  statement.bind(job).bind(static_cast<uint64_t>(limit));
  std::vector<std::pair<double, double>> out;
  while (statement.step()) out.emplace_back(statement.real(0), statement.real(1));
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace ravnest::detail
