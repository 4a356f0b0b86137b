// Starts, seeds and stops a private PostgreSQL 15 cluster for integration tests.
#include "tests/support/pg_server.h"

#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace tollgate::testing {
namespace {

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin/";

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// chown -R to the postgres user (only called when running as root).
void chownTree(const std::filesystem::path& root, uid_t uid, gid_t gid) {
  if (::chown(root.c_str(), uid, gid) != 0) {
    throw std::runtime_error("chown " + root.string() + " failed");
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (::lchown(e.path().c_str(), uid, gid) != 0) {
      throw std::runtime_error("chown " + e.path().string() + " failed");
    }
  }
}

std::string quoteSqlLiteral(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace

const std::vector<SampleCard>& sampleCards() {
  static const std::vector<SampleCard> kCards = {
      {1, "Alice Visa", "4111 1111 1111 1111", "4111111111111111", 4111111111111111,
       "4111111111111111", "123", 1700000000004, "+44 20 7946 1004"},
      {2, "Bob Mastercard", "5555-5555-5555-4444", "5555555555554444", 5555555555554444,
       "5555555555554444", "456", 1700000000012, "+1 (415) 555-0123"},
      {3, "Carol Amex", "378282246310005", "378282246310005", 378282246310005, "378282246310005",
       "7890", 1700000000020, "+44 20 7946 1004"},
      {4, "Dave Discover", "6011111111111117", "6011111111111117", 6011111111111117,
       "6011111111111117", "321", 1700000000004, "+1 (415) 555-0123"},
      {5, "Erin JCB", "3530111333300000", "3530111333300000", 3530111333300000, "3530111333300000",
       "654", 1700000000012, "+44 20 7946 1004"},
      {6, "Frank Diners", "30569309025904", "30569309025904", 30569309025904, "30569309025904",
       "987", 1700000000020, "+1 (415) 555-0123"},
  };
  return kCards;
}

PgServer::PgServer(PgServerOptions options) : options_(std::move(options)) {
  as_root_ = ::geteuid() == 0;
  pki_ = writeTestPki(tmp_.path() / "pki");
  std::filesystem::create_directories(tmp_.path() / "sock");
  std::string pwfile = tmp_.write("pwfile", std::string(kPgSuperPassword) + "\n");
  if (as_root_) {
    passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("running as root but there is no postgres user");
    chownTree(tmp_.path(), pw->pw_uid, pw->pw_gid);
  }
  auto data = (tmp_.path() / "data").string();
  auto init =
      runAsOwner({std::string(kPgBin) + "initdb", "-D", data, "-A", "scram-sha-256", "-U",
                  kPgSuperuser, "--pwfile", pwfile, "--no-locale", "-E", "UTF8", "--no-sync"},
                 std::chrono::seconds(120));
  if (init.exit_code != 0) {
    throw std::runtime_error("initdb failed (" + std::to_string(init.exit_code) + "): " + init.out +
                             init.err);
  }
  // A free port can be taken between freePort() and the server's bind; try a few.
  for (int attempt = 0; attempt < 5 && !started_; ++attempt) started_ = tryStart();
  if (!started_) throw std::runtime_error("postgres did not start:\n" + log());
}

bool PgServer::tryStart() {
  port_ = options_.port != 0 ? options_.port : freePort();
  auto data = tmp_.path() / "data";
  std::ofstream conf(data / "postgresql.conf", std::ios::app);
  conf << "\n# tollgate test settings (last one wins)\n"
       << "port = " << port_ << "\n"
       << "listen_addresses = '" << options_.listen_address << "'\n"
       << "unix_socket_directories = '" << socketDir() << "'\n"
       << "ssl = on\n"
       << "ssl_cert_file = '" << pki_.server_cert << "'\n"
       << "ssl_key_file = '" << pki_.server_key << "'\n"
       << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
       << "shared_buffers = 32MB\nmax_connections = 50\n"
       << "log_min_messages = warning\nlog_connections = off\n";
  conf.close();
  auto start = runAsOwner({std::string(kPgBin) + "pg_ctl", "-D", data.string(), "-l",
                           (tmp_.path() / "server.log").string(), "-w", "-t", "60", "start"},
                          std::chrono::seconds(90));
  return start.exit_code == 0;
}

PgServer::~PgServer() {
  if (!started_) return;
  runAsOwner({std::string(kPgBin) + "pg_ctl", "-D", (tmp_.path() / "data").string(), "-m", "fast",
              "-w", "stop"},
             std::chrono::seconds(60));
}

RunResult PgServer::runAsOwner(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) const {
  std::vector<std::string> full = options_.command_prefix;
  if (as_root_) full.insert(full.end(), {"runuser", "-u", "postgres", "--"});
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, "", timeout);
}

std::string PgServer::log() const { return readFile(tmp_.path() / "server.log"); }

RunResult PgServer::sql(const std::string& sql, const std::string& database) const {
  return run({"env", std::string("PGPASSWORD=") + kPgSuperPassword, "PGCONNECT_TIMEOUT=10", "psql",
              "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", socketDir(), "-p",
              std::to_string(port_), "-U", kPgSuperuser, "-d", database, "-f", "-"},
             sql, std::chrono::seconds(60));
}

std::string PgServer::sqlOrThrow(const std::string& sql, const std::string& database) const {
  auto r = this->sql(sql, database);
  if (r.exit_code != 0) {
    throw std::runtime_error("psql failed (" + std::to_string(r.exit_code) + ") on: " + sql + "\n" +
                             r.err);
  }
  return r.out;
}

void PgServer::createPaymentsFixture(const std::string& app_password) const {
  sqlOrThrow("create role " + std::string(kPgAppUser) + " login password " +
             quoteSqlLiteral(app_password) + ";\ncreate database " + kPgAppDatabase + " owner " +
             kPgAppUser + ";\n");
  std::string ddl =
      "create table public.cards (id int primary key, holder text not null, pan text,\n"
      "  pan_vc varchar(23), pan_num bigint, pan_dec numeric(19,0), cvv text,\n"
      "  created_ms bigint, phone text);\n"
      "alter table public.cards owner to " +
      std::string(kPgAppUser) +
      ";\n"
      "insert into public.cards values\n";
  const auto& cards = sampleCards();
  for (size_t i = 0; i < cards.size(); ++i) {
    const auto& c = cards[i];
    ddl += "  (" + std::to_string(c.id) + ", " + quoteSqlLiteral(c.holder) + ", " +
           quoteSqlLiteral(c.pan) + ", " + quoteSqlLiteral(c.pan_vc) + ", " +
           std::to_string(c.pan_num) + ", " + c.pan_dec + ", " + quoteSqlLiteral(c.cvv) + ", " +
           std::to_string(c.created_ms) + ", " + quoteSqlLiteral(c.phone) + ")" +
           (i + 1 < cards.size() ? ",\n" : ";\n");
  }
  sqlOrThrow(ddl, kPgAppDatabase);
}

}  // namespace tollgate::testing
