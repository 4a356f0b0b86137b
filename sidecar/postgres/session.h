// One proxied PostgreSQL connection: client startup (with optional TLS termination), upstream
// connect + TLS + authentication with brokered credentials, then per-message enforcement and
// response masking, with audit events for the session and every statement.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "policy/compiled_policy.h"
#include "policy/engine.h"
#include "policy/sql/analyzer.h"
#include "sidecar/access.h"
#include "sidecar/credentials.h"
#include "sidecar/events/event_sink.h"
#include "sidecar/network/pool_work.h"
#include "sidecar/network/resolver.h"
#include "sidecar/network/transport.h"
#include "sidecar/postgres/backend_decoder.h"
#include "sidecar/postgres/buffer.h"
#include "sidecar/postgres/cancel_registry.h"
#include "sidecar/postgres/copy_masker.h"
#include "sidecar/postgres/frontend_decoder.h"
#include "sidecar/postgres/name_table.h"
#include "sidecar/postgres/named_runs.h"
#include "sidecar/postgres/pipeline.h"
#include "sidecar/postgres/result_masker.h"
#include "sidecar/postgres/scram.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/type_catalog_cache.h"
#include "sidecar/stats.h"
#include "sidecar/tls/client_context.h"
#include "sidecar/tls/server_context.h"

namespace tollgate::sidecar::postgres {

// Mints (or looks up) the certificate presented to a client that asks for TLS, for the name
// it connected to. Thread-safe.
using ClientTlsProvider =
    std::function<absl::StatusOr<tls::ServerContextPtr>(const std::string& name)>;

// Everything a session needs from the rest of the sidecar. The pointers are owned elsewhere
// and outlive the session. The policy snapshot is held until the session adopts a newer one
// (PostgresSession::updatePolicy), never while a statement of the old one is in flight.
struct SessionConfig {
  // A Query or Parse whose SQL is longer is refused unanalysed (parsing costs several times the
  // text's size in memory).
  size_t max_statement_bytes = 8u << 20;
  // The largest message held whole, either way (SidecarConfig::max_message_bytes).
  size_t max_message_bytes = 64u << 20;
  policy::CompiledPolicyPtr policy;
  // Points into `policy`. Null only for a session that just answers the client's startup with
  // `refuse_reason` (a listener whose resource the policy lacks): with no record_refusal.
  const policy::Resource* resource = nullptr;
  policy::MaskerPtr masker;
  policy::Identity identity;
  policy::Role role = policy::Role::kRead;
  std::string access_rule;  // the access rule that granted the role
  uint64_t policy_version = 0;
  const policy::SqlAnalyzer* analyzer = nullptr;
  CredentialStorePtr credentials;
  EventSinkPtr events;
  CancelRegistry* cancels = nullptr;
  // Sends a CancelRequest for this session's backend on a connection of its own (nullable).
  // Used when the sidecar ends a session with a statement running: closing the socket does
  // not stop a statement, which would run, and commit, to its end.
  std::function<void(const CancelTarget&)> cancel_upstream;
  ResourceStats* stats = nullptr;
  // TLS towards the upstream; null when the resource says tls: disable.
  tls::ClientContextPtr upstream_tls;
  // TLS offered to clients; empty function: SSLRequest is declined ('N').
  ClientTlsProvider client_tls;
  // Where the upstream is: `resolve_upstream` is asked once the client's startup is read and
  // credentials are found (the access decision came before the session), and answers on the
  // session's loop, possibly inside the call, with the addresses to try in order; without it
  // `upstream_address` is used. `upstream_address` then holds the address connected to.
  std::function<void(AddressCallback)> resolve_upstream;
  SocketAddress upstream_address;
  // The name the upstream's certificate must carry.
  std::string upstream_server_name;
  // Where the client connected from and to (the original destination), for events and the
  // certificate minted for the client.
  std::string client_address;
  std::string destination_name;
  std::string source;  // "sidecar/<pod>"
  // The grant the session runs on ("" in standalone mode), recorded in every event.
  std::string grant_id;
  // With hold_reviews, a statement matched by a `review` guardrail is held and `approvals`
  // asked; the answer comes back through `post` (runs a task on this session's loop).
  // Without it, review behaves as block.
  std::shared_ptr<AccessBroker> approvals;
  bool hold_reviews = false;
  // `audit: sync`: a statement is forwarded only once its record is confirmed stored.
  bool audit_sync = false;
  std::function<void(std::function<void()>)> post;
  // Recent type catalog reads shared by the sidecar's sessions (nullable: every session reads
  // its own).
  TypeCatalogCache* type_catalogs = nullptr;
  // SCRAM keys shared by the sidecar's sessions (nullable: each session derives its own).
  ScramKeyCache* scram_keys = nullptr;
  // When set, the session answers the client's startup with this FATAL error (SQLSTATE
  // `refuse_sqlstate`) and never connects upstream: no access rule, unusable TLS settings, a
  // listener the sidecar cannot serve, ...
  std::string refuse_reason;
  std::string refuse_sqlstate = "28000";
  // False: the refusal is one of many alike, counted by the caller instead of recorded.
  bool record_refusal = true;
};

// A policy that replaces the one a session runs under (a reload of the policy file, a
// PolicyUpdate from the control plane).
struct SessionPolicyUpdate {
  policy::CompiledPolicyPtr policy;
  uint64_t version = 0;
  // Standalone mode: the access rules of `policy` decided again for the session's identity.
  // Empty when a grant gave the role (the control plane revokes and expires grants itself).
  std::optional<AccessDecision> access;
};

// The rule of statements refused because their audit events could not be spooled.
inline constexpr char kAuditBacklogRule[] = "audit:backlog";

// Why a session may not use `encoding` as its client_encoding (a character may hide a quote or
// backslash byte from the sidecar, which reads statements as UTF-8).
std::string encodingNotAnalysable(std::string_view encoding);

class PostgresSession : private FrontendDecoderCallbacks, private BackendDecoderCallbacks {
 public:
  // `on_done` runs once, on the loop, when both sides are closed; the owner then destroys the
  // session (not from inside the callback).
  PostgresSession(uv_loop_t* loop, SessionConfig config, std::function<void()> on_done);
  ~PostgresSession() override;
  PostgresSession(const PostgresSession&) = delete;
  PostgresSession& operator=(const PostgresSession&) = delete;

  // Takes the accepted client socket and starts reading the startup packet.
  absl::Status start(int client_fd);
  // A newer policy. The session ends at once (FATAL 57P01, as for a revoked grant) when the
  // policy no longer has its resource, its access rules no longer let the identity in or give
  // it another role, or it masks a session that logged in without masking. Otherwise the
  // session's next statements are decided and recorded under it, and its prepared statements
  // and cursors are decided again (their Executes are refused when it refuses them); results
  // are masked under it from the first moment nothing is in flight (no result or COPY of the
  // old masking half done), and an Execute whose described columns it changes is answered
  // with 0A000. A session whose pipeline never empties for 30 s ends instead.
  void updatePolicy(SessionPolicyUpdate update);
  // Ends the session (grant revoked, sidecar shutting down): the client gets a FATAL error
  // with `reason` and both connections close.
  // A statement the server is running is cancelled first (config.cancel_upstream).
  void terminate(const std::string& reason, std::string_view sqlstate = "57P01");
  // Makes this a session with no client that cancels `target`'s statement: it connects to the
  // server (TLS as the target's session did), sends the CancelRequest and ends when the server
  // closes. Instead of start().
  void startCancelOf(const CancelTarget& target);
  const std::string& id() const { return id_; }
  uint64_t statementCount() const { return statement_count_; }
  uint64_t blockedCount() const { return blocked_; }
  uint64_t bytesIn() const { return bytes_in_; }
  uint64_t bytesOut() const { return bytes_out_; }
  void setOnDone(std::function<void()> on_done) { on_done_ = std::move(on_done); }
  // Still reading the client's startup (or its TLS handshake) or logging in upstream, longer
  // than `limit` after the connection came.
  bool startupOverdue(std::chrono::steady_clock::time_point now,
                      std::chrono::steady_clock::duration limit) const {
    return (beforeLogin() || state_ == State::kCatalog) && now - started_ > limit;
  }

 private:
  enum class State {
    kStartup,         // reading SSLRequest / StartupMessage / CancelRequest from the client
    kConnecting,      // connecting upstream (TCP, then TLS)
    kAuthenticating,  // startup sent upstream; answering its authentication requests
    kCatalog,         // logged in; reading the database's types (TypeCatalog::kQuery)
    kReady,           // relaying
    kCancelling,      // forwarding a CancelRequest
    kDraining,        // the job ended its side: reading the answers to what it sent
    kClosing,
  };

  class Side : public TransportCallbacks {
   public:
    Side(PostgresSession* s, bool client) : session_(s), client_(client) {}
    void onTransportConnected(const absl::Status& st) override;
    void onTransportData(std::string_view data) override;
    void onTransportTlsReady(const absl::Status& st) override;
    void onTransportClosed(std::string_view reason) override;
    void onTransportPeerFinished() override;
    void onTransportPressure(bool above) override;

   private:
    PostgresSession* session_;
    bool client_;
  };

  // FrontendDecoderCallbacks
  CallbackAction onMessage(const FrontendMessage& message) override;
  LargeMessage onLargeClientMessage(char type, uint32_t length) override;
  // BackendDecoderCallbacks
  CallbackAction onMessage(const BackendMessage& message) override;

  // Startup phase (session.cc).
  CallbackAction onStartupPacket(const FrontendMessage& message);
  // Reads the client's startup parameters into client_user_, database_ and startup_params_;
  // returns why the session is refused, or "".
  std::string startupParameters(const StartupMessage& startup);
  // ParameterStatus from the server, at startup or later: what the session follows of it.
  // Returns false when it ended the session (a client_encoding it cannot analyse).
  bool noteParameter(const ParameterStatus& status);
  // noteParameter(), then the message to the client, its value scanned by the detectors;
  // false when the session ended.
  bool relayParameterStatus(const BackendMessage& message, const ParameterStatus& status);
  std::optional<std::string> maskPayload(std::string_view text) const;
  void connectUpstream();
  void sendUpstreamStartup();
  CallbackAction onAuthMessage(const BackendMessage& message);
  // SCRAM (session_scram.cc). AuthenticationSASLContinue: client-final goes at once with keys
  // from the cache; on a miss they are derived on the thread pool (scram_work_), and decoding
  // and reading the server wait until onScramKeys() sends client-final.
  CallbackAction onServerFirst(std::string_view server_first);
  void deriveKeysOffLoop();
  void onScramKeys(const absl::StatusOr<ScramKeys>& keys);
  // Sends client-final made from `keys`; false when it ended the session instead.
  bool sendClientFinal(const ScramKeys& keys);
  // Ends the session: the SCRAM exchange failed (`why`).
  void scramFailed(const absl::Status& why);
  // The database's own types (session_catalog.cc). Logged in (`ready` is the server's first
  // ReadyForQuery): with masking rules, the catalog is taken from config_.type_catalogs or
  // read, else relaying starts.
  CallbackAction onLoggedIn(const BackendMessage& ready);
  // The answer to TypeCatalog::query(), sent once logged in when masking rules are in force;
  // its ReadyForQuery goes to the client as the login's.
  CallbackAction onCatalogMessage(const BackendMessage& message);
  // After statement `st` succeeded: one that may change the catalog (mayChangeCatalog()), or
  // fired a trigger that may (firesTableChanges()), calls catalogMayHaveChanged().
  void noteTypeChange(const policy::StatementFacts& st);
  // Marks the catalog stale and holds the shared copy back (TypeCatalogCache::beginChange)
  // until settleTypeChanges(), at the ReadyForQuery that ends the transaction or when the
  // session ends.
  void catalogMayHaveChanged();
  void settleTypeChanges();
  // Logged in (and the catalog read): relaying starts with `ready` (a ReadyForQuery).
  void startRelay(const BackendMessage& ready);
  // The key of this session's catalog in config_.type_catalogs: resource, database, user.
  std::string catalogKey() const;
  // Builds catalog_ from rows another session read; false when one does not parse.
  bool catalogFromRows(const std::vector<std::string>& rows);
  void startCancel(const CancelRequest& cancel);
  // Sends the pending cancel on the connected upstream and waits for the server to close.
  void sendUpstreamCancel();

  // Relay phase (session_relay.cc; result masking in session_results.cc).
  CallbackAction onClientMessage(const FrontendMessage& message);
  CallbackAction onServerMessage(const BackendMessage& message);
  policy::Verdict decide(const policy::QueryFacts& facts);
  // decide() without the audit backlog's refusal: what the policy itself says.
  policy::Verdict decideByPolicy(const policy::QueryFacts& facts);
  // Past the audit spool's hard limit (EventSink::accepting) a statement cannot be recorded,
  // so it is refused; ending a transaction stays possible. The verdict that refuses it.
  // `facts` null (a statement the session cannot name, a cursor's FETCH) is refused too.
  bool refusedForAuditBacklog(const policy::QueryFacts* facts) const;
  static policy::Verdict auditBacklogVerdict();
  // The analyzer's facts, or for SQL over max_statement_bytes facts that decide() refuses.
  policy::QueryFactsPtr analyze(std::string_view sql);
  // Facts that decide() refuses: `bytes` of SQL were not analysed (over max_statement_bytes).
  policy::QueryFactsPtr oversizedFacts(size_t bytes) const;
  void forwardOrPoison(char type, std::string_view raw, std::string_view statement,
                       const policy::Verdict& verdict, PendingUnit& unit,
                       const std::string& poison_message);
  // Query / Parse once their verdict is final (after an approval, when one was needed).
  void applyQuery(std::string_view raw, policy::QueryFactsPtr facts, policy::Verdict verdict,
                  uint64_t started_us, const std::string& approval_id);
  void applyParse(std::string_view raw, const std::string& name, policy::QueryFactsPtr facts,
                  policy::Verdict verdict, const std::string& approval_id);
  // Held statements (session_hold.cc). A held Query/Parse keeps its message; the client is not
  // read until resumeHeld() applies the final verdict and carries on with what it sent since.
  // Review with approvers: asks them; the answer comes back through config_.post.
  void holdForApproval(char type, std::string_view raw, std::string name,
                       policy::QueryFactsPtr facts, const policy::Verdict& verdict);
  void onApprovalResult(const StatementApprovalResult& result);
  // audit: sync: records the statement first and holds it until the record is confirmed.
  // False (nothing held) when this session has no sink that can confirm: then the caller
  // refuses the statement with auditSyncRefusal().
  bool holdForAudit(char type, std::string_view raw, std::string name, policy::QueryFactsPtr facts,
                    const policy::Verdict& verdict);
  void onAuditConfirmed(bool stored);
  // `verdict` turned into the refusal of audit: sync, naming why: no sink at all (standalone
  // without --events), or a record not stored in time.
  policy::Verdict auditSyncRefusal(policy::Verdict verdict) const;
  void resumeHeld(const policy::Verdict& verdict, const std::string& approval_id);
  void onRowDescription(const BackendMessage& message, const RowDescription& desc);
  void onDataRow(const BackendMessage& message, const DataRow& row);
  void onError(const BackendMessage& message, const ErrorResponse& error);
  // FunctionCallResponse: masks the result and records the call.
  void onFunctionCallResponse(const BackendMessage& message, const FunctionCallResponse& response);
  // CopyOutResponse: sets up the COPY masker; false when the session was closed instead.
  bool startCopyOut(const PendingUnit* head, const CopyResponse& response);
  void finishStatement(PendingUnit& unit, bool success, const std::string& tag,
                       std::string_view error_code);
  // Forwards a server error or notice with card numbers masked, and with the data it quotes
  // withheld when errorsMayQuoteMaskedData().
  void forwardMasked(const BackendMessage& message);
  // True when the statement of `unit` reads a column under a column rule (also a field of a
  // composite column: `(card).cvv`), a whole row, or something unknown (an opaque EXECUTE /
  // FETCH), or writes a table with such a column (writtenRowsMayCarryMaskedData()).
  bool errorsMayQuoteMaskedData(const PendingUnit* unit) const;
  // Whether the rows `st` writes or alters may hold data under a column rule: a table it
  // writes (or that a view it writes reads) has such a column. PostgreSQL quotes a row, or the
  // key of one, in the errors of constraints (NOT NULL, CHECK, unique, exclusion, foreign keys)
  // and of rewrites (ALTER TABLE ... TYPE, a unique index made), whatever columns the statement
  // names (`UPDATE cards SET holder = NULL`: "Failing row contains (..., 123)"). A relation the
  // catalog does not hold counts for INSERT, UPDATE, DELETE, MERGE and COPY (whose rows may be
  // anyone's), not for other DDL.
  bool writtenRowsMayCarryMaskedData(const policy::StatementFacts& st) const;
  // Whether rows of the tables `relations` (names as StatementFacts::writes gives them) may
  // hold data under a column rule; `unknown` is the answer for a relation the catalog does not
  // hold as a table or view.
  bool tableRowsMayCarryMaskedData(const std::vector<std::string>& relations, bool unknown) const;
  // Whether an error or notice names (field 't') a table with a column under a column rule,
  // as PostgreSQL does for a constraint's error, quoting the row or key in its detail.
  bool namesTableWithMaskedData(const NoticeFields& fields) const;
  ResultMasker* resultMaskerFor(PendingUnit& unit);
  // The masker for a result of this shape: the current one when description and formats are
  // those it was built for, else a new one (`description` parsed from `raw_description` when
  // null). Null when the description does not parse.
  // The statement whose result a unit carries, for its lineage (policy/sql/lineage.h):
  // EXECUTE / FETCH / a portal follow their name to what defined it.
  StatementRef statementOf(const PendingUnit* unit) const;
  // What a name used by EXECUTE ("execute") or FETCH / MOVE stands for now.
  StatementRef namedSource(const policy::StatementFacts& st) const;
  // `ref` followed through EXECUTE / FETCH to what their names stand for now (at most
  // NamedRuns::kMaxHops); unknown() when an EXECUTE's arguments may carry masked data
  // (argumentsMayCarryMaskedData()) or past the names followed.
  StatementRef resolve(StatementRef ref) const;
  // Whether what EXECUTE `st` passes as arguments may carry data under a column rule: what the
  // functions it calls return (EXECUTE p(card_code(1))). Which result column it reaches is not
  // known (SELECT $1 AS note).
  bool argumentsMayCarryMaskedData(const policy::StatementFacts& st) const;
  // Whether an EXPLAIN's plan may show data under a column rule: the constants the planner
  // folds in from the database's functions it calls (EXPLAIN EXECUTE p(card_code(1))), and
  // from those of the prepared statement it plans (withExecutesResolved() merges them).
  bool explainMayShowMaskedData(const policy::StatementFacts& st) const;
  // Whether values made of `sources` (names as `st`'s lineage gives them; `whole`: any column)
  // may carry data under a column rule, through `st`'s renames and composite types.
  bool mayCarryMaskedData(const policy::StatementFacts& st, const std::vector<std::string>& sources,
                          bool whole) const;
  // Applies the names statements [from, to) of `facts` define or drop (PREPARE, DECLARE,
  // DEALLOCATE, CLOSE, DISCARD ALL) for unit `unit`.
  void recordNames(PendingUnit& unit, const policy::QueryFactsPtr& facts, size_t from, size_t to,
                   const std::string& rule);
  // `facts` with every EXECUTE given the class, objects and functions of the statement it
  // runs (when known): PREPARE's class decides, not EXECUTE's "other".
  policy::QueryFactsPtr withExecutesResolved(policy::QueryFactsPtr facts) const;
  // A Query's or Parse's analysis (of `sql_bytes` of text) as it is decided: resolved by the
  // catalog, the EXECUTEs' statements and what writes store (by the tables as the catalog
  // has them unless tablesUntrusted()).
  policy::QueryFactsPtr resolvedFacts(policy::QueryFactsPtr facts, size_t sql_bytes);
  // `facts` with what the views each statement reads are made of (their definitions, from the
  // type catalog, views of views too) added to its renames and columns, so column rules follow
  // a masked column a view renames.
  policy::QueryFactsPtr withViewsResolved(policy::QueryFactsPtr facts) const;
  // `facts` with what the database functions each statement calls return (their definitions,
  // functions they call too; also those its views call) added to its renames (under the
  // call's name and the OUT parameters' names) and columns.
  policy::QueryFactsPtr withFunctionsResolved(policy::QueryFactsPtr facts) const;
  // `facts` with what writes store resolved by the catalog (masking.copies), per decision:
  // - each `*` over tables (INSERT INTO t SELECT * FROM orders, OutputLineage::star_tables)
  //   made of those tables' columns, where the catalog holds them all and none is of one of the
  //   database's own types; not when `tables_untrusted`;
  // - a stored value of a composite type (note = card::text) made of its fields too.
  // Either sets OutputLineage::catalog_resolved.
  // Names only, so the engine judges them by the rules in force, a policy update's included.
  policy::QueryFactsPtr withStoresResolved(policy::QueryFactsPtr facts,
                                           bool tables_untrusted) const;
  // Whether the stores of `facts` (a Query's or Parse's statements) are judged as any column
  // rather than by the tables' columns: the session may have changed tables
  // (tables_may_have_changed_), or one of its statements may (mayChangeCatalog()), or fires a
  // trigger that may (StatementFacts::fires_table_changes) with statements after it.
  bool tablesUntrusted(const policy::QueryFacts& facts) const;
  // Once a Query or Parse of `facts` is sent (not refused), and the names it defines are
  // recorded: a statement that may change tables or types (changesTables()) calls
  // catalogMayHaveChanged() and
  // tablesMayHaveChanged(), which refuses every
  // prepared statement whose stores were judged by the tables (the server analyses it again at
  // its next run), also one `facts` prepares (its trigger fires before its second run). A
  // trigger runs once its write's rows are formed (a table in use cannot be altered), so a
  // statement run now was judged by the tables as they were. A statement refused never runs:
  // the tables stay trusted.
  void noteTableChanges(const policy::QueryFacts& facts);
  // From now on the session's catalog of tables and types is not trusted: prepared statements
  // and cursors whose stored values were resolved by it are refused (the server would analyse
  // them, or the statements of the functions a cursor calls, again).
  void tablesMayHaveChanged();
  // The refusal of the prepared statement, cursor or Bind's portal `name`, which runs `source`,
  // once tables may have changed: when its stored values were resolved by the catalog (nullopt
  // otherwise).
  static std::optional<Refusal> staleStoresRefusal(NameKind kind, const std::string& name,
                                                   const StatementRef& source);
  // An EXECUTE (FETCH, MOVE) in `facts` after a statement of the same Query that may change
  // tables (changesTables()), of a prepared statement (cursor, portal) whose stores were judged
  // by them: its refusal (staleStoresRefusal()) and index. tablesMayHaveChanged() refuses it
  // only once the Query is sent.
  std::optional<std::pair<Refusal, size_t>> staleInQuery(const policy::QueryFacts& facts) const;
  // Whether `st` may create, alter or drop tables or types the catalog describes: DDL, an admin
  // statement, CALL, DO, COMMIT PREPARED, or a call of one of the database's own functions
  // whose body may (StatementFacts::calls_table_changes). The triggers its writes fire:
  // changesTables().
  static bool mayChangeCatalog(const policy::StatementFacts& st);
  // mayChangeCatalog(), or a trigger its writes fire (or those of the functions it calls and of
  // the triggers they fire) is seen to create, alter or drop tables or types
  // (StatementFacts::fires_table_changes). Not a trigger's dynamic SQL or a body not read:
  // generic audit triggers run EXECUTE, and counting them would untrust the tables at nearly
  // every write; what such a trigger does is not followed (docs/policy.md). Nor functions a
  // rule's actions call. Both are worked out once per statement, as it is resolved.
  static bool changesTables(const policy::StatementFacts& st);
  // Both, views first (a view's definition may call a function). What they change is
  // remembered per analysis (the analyser shares one for every statement of a shape), so a
  // statement run again gets the same facts: no copy, and its result plan is reused.
  // `sql_bytes`: the length of the text analysed (one the analyser does not cache is not
  // remembered either).
  policy::QueryFactsPtr withCatalogResolved(policy::QueryFactsPtr facts, size_t sql_bytes) const;
  // After a ReadyForQuery: the changes to names of every answered unit stand, and portals of
  // an ended transaction are gone.
  void settleNames();
  ResultMasker* maskerFor(std::string_view raw_description, const RowDescription* description,
                          const std::vector<int16_t>& formats, bool use_description_formats,
                          const StatementRef& statement);

  // Policy updates (session_policy.cc). Ends the session when `update` takes its resource or
  // its access away, changes its role, or masks a session that logged in without masking;
  // true when it did.
  bool endBy(const SessionPolicyUpdate& update);
  // Statements are decided under `update` from now on: the policy, version and audit mode
  // are swapped and prepared statements and cursors decided again (redecideNames()). The
  // masker stays, kept alive by masking_owner_, until adoptMasking().
  void adoptDecisions(const SessionPolicyUpdate& update);
  // Still reading the client's startup or logging in upstream (the type catalog not read yet).
  bool beforeLogin() const {
    return state_ == State::kStartup || state_ == State::kConnecting ||
           state_ == State::kAuthenticating;
  }
  // What a newer policy says of a statement made under an older one refuses it: a block, or a
  // review unless a human already approved this very statement.
  static bool refusedAgain(const policy::Verdict& verdict, bool approved);
  void redecideNames();
  policy::Verdict decideAgain(const StatementRef& source);
  // With nothing in flight: the current policy's masker, and the descriptions it changes
  // marked stale (markChangedDescriptions()).
  void adoptMasking();
  void markChangedDescriptions();
  // Before each client message: adopts the pending masking when nothing is in flight; ends a
  // session that keeps statements in flight past the limit instead.
  CallbackAction followPolicy(char message_type);
  // Which columns the current masker describes as text in `raw_description` for `source`.
  std::vector<uint16_t> textColumnsOf(const std::string& raw_description,
                                      const StatementRef& source) const;
  // Events (session_events.cc).
  // Identity, location, policy version and grant: the part every event of this session shares
  // (built once, immutable, shared with statement events built on the sink's thread).
  std::shared_ptr<const v1::AuditEvent> eventTemplate() const;
  v1::AuditEvent baseEvent(v1::EventType type) const;
  void emitSessionStart();
  void emitSessionEnd(std::string_view reason);
  // A statement event for every Query / Execute the server was sent and did not answer.
  void emitUnanswered();
  // A Query or Execute the server was sent and has not answered (refused ones have events).
  static bool awaitsAnswer(const PendingUnit& unit);
  // Such a unit with a statement whose outcome the audit must tell (anything but a read:
  // whether a write or COMMIT took effect).
  bool anyAwaitingOutcome();
  void emitRefused(const std::string& reason);
  // The statements refused by audit:backlog after the first one recorded (backlog_refusals_),
  // as one event; then the count starts again.
  void emitBacklogRefusals();
  // What became of the changes of an implicit transaction (the rest of a multi-statement
  // Query, or an extended batch up to its Sync), whose statements' events say only that they
  // succeeded. noteBatchChange() counts a statement that ran; settleBatch(), at
  // ReadyForQuery, emits an `implicit_rollback` event when an error ended the transaction
  // after changes (the server rolled them back), and an `outcome_unknown` one when a procedure
  // (CALL, DO), which may COMMIT or ROLLBACK itself, ran after changes or before such an error
  // (a procedure that failed may have committed before it failed).
  // `own_transaction`: a procedure in `st` could COMMIT or ROLLBACK (see finishStatement()).
  void noteBatchChange(const policy::StatementFacts& st, bool success, bool own_transaction);
  void settleBatch();
  void emitBatchOutcome(std::string_view type, const std::string& detail);
  void emitStatement(const policy::StatementFacts* st, const PendingUnit& unit, bool success,
                     uint64_t rows, std::string_view error_code, policy::Decision decision,
                     const std::string& rule, const std::string& message);

  // Plumbing (session.cc).
  void onClientData(std::string_view data);
  void onUpstreamData(std::string_view data);
  // Decodes and relays what the client sent, while the session decodes its messages
  // (decodesClient()) and fewer than kMaxUnitsInFlight answers are owed. What it does not
  // decode then waits in the client's socket past kMaxStalledClientBytes: reading stops
  // (holdClientReads()) until decoding goes on.
  void processClient();
  // Decodes and relays what the server sent, unless SCRAM keys are being derived (scram_work_).
  void processUpstream();
  // In the startup exchange or logged in, no statement held for approval or an audit record.
  bool decodesClient() const {
    return (state_ == State::kStartup || state_ == State::kReady) && !held_;
  }
  void holdClientReads(bool hold);
  // Whether statements [from, to) of `facts` include a COPY FROM (STDIN: others are admin and
  // never enter copy-in mode, which only makes a Sync wait for their answer).
  static bool copiesFromClient(const policy::QueryFacts& facts, size_t from, size_t to);
  // Whether the result of the statement `ref` runs is fixed when it is parsed, so its Describe
  // (or NoData) holds for its portals: not one that runs a name (FETCH c, EXECUTE q, EXPLAIN
  // EXECUTE q: described as the name stood at the Parse), nor CALL.
  static bool resultFixedAtParse(const StatementRef& ref);
  // Answers owed past which client messages wait undecoded (a unit takes a few hundred bytes; a
  // Sync five on the wire).
  static constexpr size_t kMaxUnitsInFlight = 4096;
  static constexpr size_t kMaxStalledClientBytes = 256 * 1024;
  void flush();
  void fatalToClient(std::string_view sqlstate, const std::string& message);
  void closeAll(std::string_view reason);
  // Ends the upstream connection: orderly when the server took everything it was sent, else
  // at once.
  void closeUpstream();
  // The job ended its side (Terminate, FIN) with answers owed: the upstream session stays
  // until the server has answered (it runs the statements anyway). A job that can still read
  // gets every answer (drain_delivers_); for one that is gone only statements other than reads
  // are waited for, so their events say whether they took effect. Then closeAll(reason).
  void drainThenClose(std::string_view reason);
  void onSideClosed(bool client, std::string_view reason);
  // The job half-closed (FIN, plaintext): as PostgreSQL does at EOF, what it sent is still
  // answered (answerThenClose()), unless it is mid-COPY FROM STDIN or mid-message, a statement
  // is held (withdrawn with the job), or it is not logged in.
  void onClientFinished();
  // Once everything the half-closed job sent is decoded: a Terminate follows it upstream and
  // the session drains, delivering the answers (drain_delivers_); with nothing owed it ends.
  void answerThenClose();
  void checkDone();
  uint64_t nowUs() const;

  uv_loop_t* loop_;
  SessionConfig config_;
  std::function<void()> on_done_;
  std::string id_;
  State state_ = State::kStartup;
  Side client_side_{this, true};
  Side upstream_side_{this, false};
  Transport client_{&client_side_};
  Transport upstream_{&upstream_side_};
  FrontendDecoderPtr frontend_;
  BackendDecoderPtr backend_;
  Buffer client_in_;
  Buffer upstream_in_;
  std::string to_client_;
  std::string to_upstream_;
  bool done_ = false;
  bool started_event_ = false;

  // Startup.
  std::vector<std::pair<std::string, std::string>> startup_params_;
  // The protocol options (_pq_.*) the client asked for: the sidecar speaks none.
  std::vector<std::string> unrecognised_protocol_options_;
  std::string client_user_;
  std::string database_;
  std::optional<Credential> credential_;
  std::unique_ptr<ScramSha256Client> scram_;
  // The SCRAM keys being derived off the loop; destroyed (cancelled) with the session.
  PoolWorkPtr scram_work_;
  // The server asked for a password once: a second request (another method, or a new SCRAM
  // exchange after one ended) is refused, as libpq refuses it.
  bool password_requested_ = false;
  std::optional<CancelRequest> pending_cancel_;
  std::string cancel_secret_;
  // This session's own backend, for cancelling its statement when the sidecar ends it.
  std::optional<CancelTarget> own_backend_;
  // The server's client_encoding (ParameterStatus): how COPY rows are written.
  std::string client_encoding_ = "UTF8";
  // Names of the run-time settings the client's startup parameters make, comma-separated.
  std::string startup_settings_;
  int32_t client_pid_ = 0;
  // The server's major version (ParameterStatus server_version), 0 until known.
  int server_major_ = 0;
  // Domains, composite and range types of the database, for masking (null without masking
  // rules).
  std::unique_ptr<TypeCatalog> catalog_;
  // withCatalogResolved(): analysis -> (that analysis, kept alive so its address stays its
  // own; what the catalog made of it), for catalog_ as it was.
  mutable absl::flat_hash_map<const policy::QueryFacts*,
                              std::pair<policy::QueryFactsPtr, policy::QueryFactsPtr>>
      resolved_facts_;
  mutable const TypeCatalog* resolved_for_ = nullptr;
  // The session sent a statement that may change tables: their columns are no longer the
  // catalog's (withStoresResolved()). Set once it is sent, before what is queued behind it is
  // analysed (noteTableChanges()).
  bool tables_may_have_changed_ = false;
  std::vector<std::string> catalog_rows_;  // kCatalog: the DataRows, for config_.type_catalogs
  uint64_t catalog_generation_ = 0;        // config_.type_catalogs' generation when read
  // The catalog query was cancelled (a job's statement_timeout can fire before the query's own
  // SET LOCAL turns it off): it is sent again at the ReadyForQuery, a few times at most.
  bool catalog_retry_ = false;
  int catalog_retries_ = 0;
  // A lock held pg_get_viewdef up past the query's lock_timeout: read again without the views'
  // definitions (their columns are then masked whole).
  bool catalog_without_view_definitions_ = false;
  // DDL, CALL or DO ran in the transaction in progress: its commit (the next ReadyForQuery
  // outside a transaction block) drops the shared catalog again, since sessions that logged in
  // meanwhile read the catalog without the change.
  bool catalog_changed_ = false;
  // The client's BackendKeyData, sent with the login's ReadyForQuery: a CancelRequest must not
  // cut the catalog query short.
  std::string held_key_data_;

  // Relay.
  struct Held {
    char type = 'Q';
    std::string raw;
    std::string name;  // Parse: the statement name
    policy::QueryFactsPtr facts;
    policy::Verdict verdict;
    uint64_t started_us = 0;
    uint64_t policy_version = 0;  // the version that decided it
  };
  std::optional<Held> held_;
  // Reading the client is stopped by holdClientReads() (the session does not decode now), and
  // decoding stopped at kMaxUnitsInFlight (processUpstream() goes on once half are answered).
  bool client_reads_held_ = false;
  bool decode_waits_for_answers_ = false;
  // Reading the upstream is stopped because the client does not take what it is sent (lifted
  // when the client goes away, so that the server is not left blocked).
  bool upstream_held_for_client_ = false;
  // Set while the masker is an older policy's than config_.policy (see adoptDecisions()).
  policy::CompiledPolicyPtr masking_owner_;
  std::chrono::steady_clock::time_point masking_pending_since_;
  // Lets callbacks from other threads find out whether the session still exists.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Pipeline pipeline_;
  NameTable names_;
  NamedRuns runs_{names_};  // also holds the first unit of the batch in progress
  // The masker of the result streaming now (result_owner_ set) or of the last one, kept with
  // what it was built from so the next result of the same shape reuses it.
  std::optional<ResultMasker> result_;
  const PendingUnit* result_owner_ = nullptr;
  std::string result_description_;
  std::vector<int16_t> result_formats_;
  StatementRef result_statement_;
  bool result_use_description_formats_ = false;
  bool copy_out_ = false;
  // Masks the rows of the COPY TO STDOUT streaming now, when masking rules are in force.
  std::optional<CopyOutMasker> copy_masker_;
  // An extended-protocol error came back before the batch's Sync was sent: drop client
  // messages up to that Sync, as the server does (see onError).
  bool discard_to_sync_ = false;
  // A message of the extended-protocol batch in progress (since the last Sync) was refused:
  // the server will skip the rest of it.
  bool batch_refused_ = false;
  bool extended_since_sync_ = false;
  // COPY FROM STDIN. PostgreSQL ignores Sync in copy-in mode (libpq sends Parse, Bind,
  // Describe, Execute and Sync at once), so whether the server answers a Sync the client sends
  // after such a statement depends on whether the copy starts: processClient() waits with it
  // until the server answers the unit (copy_in_unit_) with CopyInResponse (copy_in_: the Syncs
  // up to the client's CopyDone or CopyFail are dropped, never sent) or without one.
  uint64_t copy_in_unit_ = 0;
  bool copy_in_ = false;
  bool decode_waits_for_copy_ = false;
  char txn_status_ = 'I';
  // A statement of the transaction in progress read a column under a column rule: errors until
  // it ends (at a later statement, COMMIT or the implicit transaction's Sync) may quote it.
  bool transaction_may_quote_ = false;
  // A statement ran since the last ReadyForQuery (an extended-protocol batch before its Sync).
  bool implicit_transaction_ran_ = false;
  // Changes were made since the last ReadyForQuery outside a transaction: if the session ends
  // now, the server rolls them back (the session end event says so).
  bool uncommitted_changes_ = false;
  // Since the last ReadyForQuery (see settleBatch()): statements other than reads that
  // succeeded in the current transaction since it began or since the last procedure, those
  // before that procedure, whether one ran, and the first error's SQLSTATE.
  uint64_t batch_changes_ = 0;
  uint64_t batch_before_procedure_ = 0;
  bool batch_procedure_ = false;
  std::string batch_error_code_;
  std::string drain_reason_;      // kDraining: why the session ends once drained
  bool client_finished_ = false;  // the job half-closed (onClientFinished)
  // kDraining with a job that can still read: answers still go to it (masked, and policy
  // updates still apply), and the session waits for all of them (not only for writes').
  bool drain_delivers_ = false;
  std::string scratch_;
  std::string poison_token_;
  uint64_t statement_count_ = 0;
  // Statements refused by audit:backlog since the last other statement event (see
  // emitStatement()).
  uint64_t backlog_refusals_ = 0;
  uint64_t blocked_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_;
  mutable std::shared_ptr<const v1::AuditEvent> event_template_;
  // The template before the last policy update, for statements decided before it.
  std::shared_ptr<const v1::AuditEvent> previous_event_template_;
  uint64_t previous_policy_version_ = 0;
};

}  // namespace tollgate::sidecar::postgres
